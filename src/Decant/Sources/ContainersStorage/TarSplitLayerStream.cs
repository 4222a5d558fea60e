using System.Buffers;
using System.IO.Compression;
using System.Text.Json;
using Decant.Blobs;
using Decant.Interop;
using Decant.Model;
using Microsoft.Win32.SafeHandles;

namespace Decant.Sources.ContainersStorage;

/// <summary>
/// A store layer's exact tar stream, rebuilt from its tar-split record
/// (<c>DRIVER-layers/ID.tar-split.gz</c>: gzip'd JSON lines, each either a segment of the tar's own
/// bytes, base64, or a file entry naming a file whose bytes follow) and the files in the layer's
/// directory. The bytes are the ones the layer was created from, so the stream's digest is the
/// layer's diff_id, and it is checked as every source's layers are. Files are opened inside the layer
/// directory by the kernel (no symlink followed, nothing outside it), and each must be a regular
/// file of exactly the size the record says.
/// </summary>
/// <remarks>
/// Each file's handle is served for reflinks as <see cref="StoredLayerStream"/> describes.
/// </remarks>
internal sealed class TarSplitLayerStream : StoredLayerStream
{
    /// <summary>The longest JSON line accepted (a segment holds headers: PAX records with large xattrs, at most a few MiB).</summary>
    private const int MaxLineLength = 64 * 1024 * 1024;

    private const int SegmentType = 2;
    private const int FileType = 1;

    private readonly Stream _record;
    private readonly ConfinedRoot _layerDirectory;
    private byte[] _lineBuffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
    private int _lineStart;
    private int _lineEnd;
    private bool _recordEnded;
    private long _nextPosition;

    private TarSplitLayerStream(Stream record, ConfinedRoot layerDirectory, string layerName)
        : base(layerName)
    {
        _record = record;
        _layerDirectory = layerDirectory;
    }

    /// <summary>Opens the record at <paramref name="tarSplitPath"/> over the files in <paramref name="layerDirectory"/>.</summary>
    public static TarSplitLayerStream Open(string tarSplitPath, string layerDirectory, string layerName)
    {
        var record = new FileStream(tarSplitPath, new FileStreamOptions { Mode = FileMode.Open, Access = FileAccess.Read, Options = FileOptions.Asynchronous | FileOptions.SequentialScan });
        try
        {
            var root = ConfinedRoot.Open(layerDirectory);
            return new TarSplitLayerStream(new GZipStream(record, CompressionMode.Decompress), root, layerName);
        }
        catch (DecantException error)
        {
            record.Dispose();
            throw new DecantException(DecantErrorKind.InvalidLayer, $"{layerName}: cannot open the layer's directory {layerDirectory}: {error.Message}", error);
        }
    }

    /// <summary>Moves to the record's next entry: a segment to produce, or a file to open; at the record's end, the stream's.</summary>
    protected override async ValueTask NextEntryAsync(CancellationToken cancellationToken)
    {
        var line = await ReadLineAsync(cancellationToken).ConfigureAwait(false);
        if (line is null)
        {
            ServeEnd();
            return;
        }
        var entry = ParseEntry(line.Value.Span);
        if (entry.Position != _nextPosition)
        {
            throw Invalid($"its tar-split record's entry {_nextPosition} says it is entry {entry.Position}: the record is damaged");
        }
        _nextPosition++;
        if (entry.Type == SegmentType)
        {
            ServeSegment(entry.Payload ?? []);
        }
        else if (entry.Type == FileType)
        {
            if (entry.Size > 0)
            {
                OpenFile(entry.Name ?? throw Invalid($"its tar-split record's entry {entry.Position} is a file without a name"), entry.Size);
            }
        }
        else
        {
            throw Invalid($"its tar-split record's entry {entry.Position} has the unknown type {entry.Type}");
        }
    }

    private void OpenFile(string name, long size)
    {
        if (!ArchivePath.TryClean(name, out var components) || components.Length == 0)
        {
            throw Invalid($"its tar-split record names the file \"{NameBytes.Escape(name)}\", which is not inside the layer");
        }
        string relative = string.Join('/', components);
        SafeFileHandle file;
        try
        {
            file = _layerDirectory.OpenFileForReading(relative);
        }
        catch (DecantException error)
        {
            throw Invalid($"cannot open {NameBytes.Escape(relative)} in the layer's directory: {error.Message}");
        }
        var status = Posix.Stat(file, _layerDirectory.Describe(relative));
        if ((status.Mode & LibC.S_IFMT) != LibC.S_IFREG || (long)status.Size != size)
        {
            file.Dispose();
            throw Invalid($"{NameBytes.Escape(relative)} in the layer's directory is a {Posix.FileTypeName(status.Mode)} of {status.Size} bytes, but the layer's tar-split record says a file of {size} bytes (changed in the store?)");
        }
        ServeFile(file, size, NameBytes.Escape(relative));
    }

    private readonly record struct Entry(int Type, long Position, string? Name, long Size, byte[]? Payload);

    /// <summary>Parses one tar-split JSON line: <c>type</c>, <c>name</c> (or <c>name_raw</c>, base64, for a name that is not UTF-8), <c>size</c>, <c>payload</c> (base64), <c>position</c>.</summary>
    private Entry ParseEntry(ReadOnlySpan<byte> line)
    {
        try
        {
            var reader = new Utf8JsonReader(line);
            int type = 0;
            long position = -1, size = 0;
            string? name = null;
            byte[]? payload = null;
            reader.Read();
            if (reader.TokenType != JsonTokenType.StartObject)
            {
                throw new JsonException("not an object");
            }
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                string property = reader.GetString()!;
                reader.Read();
                switch (property)
                {
                    case "type": type = reader.GetInt32(); break;
                    case "position": position = reader.GetInt64(); break;
                    case "size": size = reader.GetInt64(); break;
                    case "name" when reader.TokenType == JsonTokenType.String: name ??= reader.GetString(); break;
                    case "name_raw" when reader.TokenType == JsonTokenType.String: name = NameBytes.Decode(reader.GetBytesFromBase64()); break;
                    case "payload" when reader.TokenType == JsonTokenType.String: payload = reader.GetBytesFromBase64(); break;
                    default: reader.Skip(); break;
                }
            }
            if (size < 0)
            {
                throw new JsonException($"size {size}");
            }
            return new Entry(type, position, name, size, payload);
        }
        catch (Exception error) when (error is JsonException or InvalidOperationException or FormatException)
        {
            throw Invalid($"its tar-split record's entry {_nextPosition} is not valid: {error.Message}");
        }
    }

    /// <summary>The record's next line (without its newline), or null at its end.</summary>
    private async ValueTask<ReadOnlyMemory<byte>?> ReadLineAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            int newline = _lineBuffer.AsSpan(_lineStart, _lineEnd - _lineStart).IndexOf((byte)'\n');
            if (newline >= 0)
            {
                var line = _lineBuffer.AsMemory(_lineStart, newline);
                _lineStart += newline + 1;
                return line;
            }
            if (_recordEnded)
            {
                if (_lineStart == _lineEnd)
                {
                    return null;
                }
                var last = _lineBuffer.AsMemory(_lineStart, _lineEnd - _lineStart);
                _lineStart = _lineEnd;
                return last;
            }
            await FillAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private async ValueTask FillAsync(CancellationToken cancellationToken)
    {
        if (_lineStart > 0)
        {
            _lineBuffer.AsSpan(_lineStart, _lineEnd - _lineStart).CopyTo(_lineBuffer);
            _lineEnd -= _lineStart;
            _lineStart = 0;
        }
        if (_lineEnd == _lineBuffer.Length)
        {
            if (_lineBuffer.Length >= MaxLineLength)
            {
                throw Invalid($"its tar-split record has a line longer than {MaxLineLength / (1024 * 1024)} MiB");
            }
            var larger = ArrayPool<byte>.Shared.Rent(_lineBuffer.Length * 2);
            _lineBuffer.AsSpan(0, _lineEnd).CopyTo(larger);
            ArrayPool<byte>.Shared.Return(_lineBuffer);
            _lineBuffer = larger;
        }
        int read;
        try
        {
            read = await _record.ReadAsync(_lineBuffer.AsMemory(_lineEnd), cancellationToken).ConfigureAwait(false);
        }
        catch (InvalidDataException error)
        {
            throw Invalid($"its tar-split record is not valid gzip: {error.Message}");
        }
        if (read == 0)
        {
            _recordEnded = true;
        }
        _lineEnd += read;
    }

    protected override void ReleaseResources()
    {
        _record.Dispose();
        _layerDirectory.Dispose();
        ArrayPool<byte>.Shared.Return(_lineBuffer);
        _lineBuffer = [];
    }

    public override async ValueTask DisposeAsync()
    {
        await _record.DisposeAsync().ConfigureAwait(false);
        await base.DisposeAsync().ConfigureAwait(false);
    }
}
