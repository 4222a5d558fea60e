using Decant.Blobs;
using Decant.Interop;
using Decant.Model;
using Microsoft.Win32.SafeHandles;

namespace Decant.Sources.ContainersStorage;

/// <summary>
/// A store layer's tar, produced as runs of the tar's own bytes (headers, padding) and files whose
/// bytes follow, read from the layer's directory. Subclasses say what comes next
/// (<see cref="NextEntryAsync"/>): from the layer's tar-split record (<see cref="TarSplitLayerStream"/>)
/// or from a walk of its directory (<see cref="DiffDirectoryLayerStream"/>).
/// </summary>
/// <remarks>
/// The stream is an <see cref="IFileBackedStream"/>: the layer's reader asks it for the file behind a
/// regular file's data, so the writer's store or the cache can reflink it rather than write it. The
/// last <see cref="OpenFilesKept"/> files served stay open for that, as the reader may be a few
/// buffers behind the stream; the entry after a run of tar bytes is taken as soon as the run is
/// produced, so a file whose header the reader is about to see is already known.
/// </remarks>
internal abstract class StoredLayerStream : ReadOnlyStream, IFileBackedStream
{
    /// <summary>How many of the files last served stay open for <see cref="OpenDataFile"/>.</summary>
    private const int OpenFilesKept = 256;

    private readonly Dictionary<long, (SafeFileHandle File, long Size)> _recentFiles = [];
    private readonly Queue<long> _recentStarts = new();
    private byte[] _segment = [];
    private int _segmentOffset;
    private SafeFileHandle? _file;
    private string _fileName = "";
    private long _fileOffset;
    private long _fileRemaining;
    private bool _ended;
    private bool _disposed;

    protected StoredLayerStream(string layerName) => LayerName = layerName;

    /// <summary>The layer, for messages.</summary>
    protected string LayerName { get; }

    /// <summary>The bytes produced so far: the position in the layer's tar.</summary>
    public long ArchivePosition { get; private set; }

    /// <summary>
    /// Takes the layer's next entry: calls <see cref="ServeSegment"/>, <see cref="ServeFile"/> or
    /// <see cref="ServeEnd"/> (or nothing, for an entry that produces no bytes).
    /// </summary>
    protected abstract ValueTask NextEntryAsync(CancellationToken cancellationToken);

    /// <summary>The tar's own bytes come next.</summary>
    protected void ServeSegment(byte[] bytes)
    {
        _segment = bytes;
        _segmentOffset = 0;
    }

    /// <summary>The first <paramref name="size"/> bytes of <paramref name="file"/> come next (the stream owns the handle from now on).</summary>
    protected void ServeFile(SafeFileHandle file, long size, string displayName)
    {
        _file = file;
        lock (_recentFiles)
        {
            if (_recentStarts.Count == OpenFilesKept)
            {
                _recentFiles.Remove(_recentStarts.Dequeue(), out var evicted);
                evicted.File.Dispose();
            }
            _recentFiles[ArchivePosition] = (file, size);
            _recentStarts.Enqueue(ArchivePosition);
        }
        _fileName = displayName;
        _fileOffset = 0;
        _fileRemaining = size;
    }

    /// <summary>Nothing comes after the bytes served so far.</summary>
    protected void ServeEnd() => _ended = true;

    public override int Read(Span<byte> buffer) => throw new NotSupportedException("a store layer is read asynchronously");

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (buffer.Length > 0)
        {
            if (_segmentOffset < _segment.Length)
            {
                int count = Math.Min(buffer.Length, _segment.Length - _segmentOffset);
                _segment.AsMemory(_segmentOffset, count).CopyTo(buffer);
                _segmentOffset += count;
                ArchivePosition += count;
                if (_segmentOffset == _segment.Length && !_ended)
                {
                    await TakeNextEntryAsync(cancellationToken).ConfigureAwait(false);
                }
                return count;
            }
            if (_fileRemaining > 0)
            {
                int wanted = (int)Math.Min(buffer.Length, _fileRemaining);
                int read = await RandomAccess.ReadAsync(_file!, buffer[..wanted], _fileOffset, cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    throw Invalid($"{_fileName} ended {_fileRemaining} bytes early while it was read (changed in the store?)");
                }
                _fileOffset += read;
                _fileRemaining -= read;
                ArchivePosition += read;
                return read;
            }
            if (_ended)
            {
                return 0;
            }
            await TakeNextEntryAsync(cancellationToken).ConfigureAwait(false);
        }
        return 0;
    }

    private ValueTask TakeNextEntryAsync(CancellationToken cancellationToken)
    {
        _file = null;
        _segment = [];
        _segmentOffset = 0;
        return NextEntryAsync(cancellationToken);
    }

    /// <inheritdoc/>
    public SafeFileHandle? OpenDataFile(long start, long size)
    {
        lock (_recentFiles)
        {
            if (!_recentFiles.TryGetValue(start, out var recent) || recent.Size != size)
            {
                return null;
            }
            int fd = LibC.FcntlDuplicate(recent.File, LibC.F_DUPFD_CLOEXEC, 0);
            return fd < 0 ? null : new SafeFileHandle(fd, ownsHandle: true);
        }
    }

    /// <summary>An error naming the layer.</summary>
    protected DecantException Invalid(string what) => new(DecantErrorKind.InvalidLayer, $"{LayerName}: {what}");

    /// <summary>Releases what the subclass holds (called once).</summary>
    protected abstract void ReleaseResources();

    protected override void Dispose(bool disposing)
    {
        if (disposing && !_disposed)
        {
            _disposed = true;
            lock (_recentFiles)
            {
                foreach (var (file, _) in _recentFiles.Values)
                {
                    file.Dispose();
                }
                _recentFiles.Clear();
            }
            ReleaseResources();
        }
        base.Dispose(disposing);
    }
}
