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
/// last <see cref="OpenFilesKept"/> files taken stay open for that, as the reader may be a few
/// buffers behind the stream. Entries are taken ahead of the reader, up to
/// <see cref="FilesAhead"/> files or <see cref="BytesAhead"/> bytes of their data, and the kernel is
/// told each file will be read (<c>POSIX_FADV_WILLNEED</c>), so a cold store is read with many
/// requests in flight rather than one file at a time.
/// </remarks>
internal abstract class StoredLayerStream : ReadOnlyStream, IFileBackedStream
{
    /// <summary>How many of the files last taken stay open for <see cref="OpenDataFile"/>.</summary>
    private const int OpenFilesKept = 256;

    /// <summary>At most this many files are taken ahead of the one being read.</summary>
    private const int FilesAhead = 64;

    /// <summary>At most this much file data is taken (and asked of the kernel) ahead of the reader.</summary>
    private const long BytesAhead = 16 << 20;

    /// <summary>A file's read-ahead request covers at most this much of it; sequential read-ahead does the rest.</summary>
    private const long AdviseLimit = 4 << 20;

    private readonly Dictionary<long, (SafeFileHandle File, long Size)> _recentFiles = [];
    private readonly Queue<long> _recentStarts = new();
    private readonly Queue<Run> _ahead = new();
    private long _aheadPosition;
    private long _aheadFileBytes;
    private int _aheadFiles;
    private bool _endTaken;
    private Run _current = new([], null, 0, "");
    private int _segmentOffset;
    private long _fileOffset;
    private bool _disposed;

    /// <summary>One run of the tar: its own bytes, or the first <c>Size</c> bytes of a file.</summary>
    private sealed record Run(byte[] Segment, SafeFileHandle? File, long Size, string Name);

    protected StoredLayerStream(string layerName) => LayerName = layerName;

    /// <summary>The layer, for messages.</summary>
    protected string LayerName { get; }

    /// <summary>The bytes produced so far: the position in the layer's tar.</summary>
    public long ArchivePosition { get; private set; }

    /// <summary>
    /// Takes the layer's next entry: calls <see cref="ServeSegment"/>, <see cref="ServeFile"/> (any
    /// number of times, in the tar's order) or <see cref="ServeEnd"/>, or nothing for an entry that
    /// produces no bytes.
    /// </summary>
    protected abstract ValueTask NextEntryAsync(CancellationToken cancellationToken);

    /// <summary>The tar's own bytes come next.</summary>
    protected void ServeSegment(byte[] bytes)
    {
        if (bytes.Length > 0)
        {
            _ahead.Enqueue(new Run(bytes, null, bytes.Length, ""));
            _aheadPosition += bytes.Length;
        }
    }

    /// <summary>The first <paramref name="size"/> bytes of <paramref name="file"/> come next (the stream owns the handle from now on).</summary>
    protected void ServeFile(SafeFileHandle file, long size, string displayName)
    {
        lock (_recentFiles)
        {
            if (_recentStarts.Count == OpenFilesKept)
            {
                _recentFiles.Remove(_recentStarts.Dequeue(), out var evicted);
                evicted.File.Dispose();
            }
            _recentFiles[_aheadPosition] = (file, size);
            _recentStarts.Enqueue(_aheadPosition);
        }
        // Advice only: a kernel that ignores it still reads the file when asked.
        _ = LibC.PosixFadvise(file, 0, Math.Min(size, AdviseLimit), LibC.POSIX_FADV_WILLNEED);
        _ahead.Enqueue(new Run([], file, size, displayName));
        _aheadPosition += size;
        _aheadFileBytes += size;
        _aheadFiles++;
    }

    /// <summary>Nothing comes after the bytes served so far.</summary>
    protected void ServeEnd() => _endTaken = true;

    public override int Read(Span<byte> buffer) => throw new NotSupportedException("a store layer is read asynchronously");

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (buffer.Length > 0)
        {
            if (_segmentOffset < _current.Segment.Length)
            {
                int count = Math.Min(buffer.Length, _current.Segment.Length - _segmentOffset);
                _current.Segment.AsMemory(_segmentOffset, count).CopyTo(buffer);
                _segmentOffset += count;
                ArchivePosition += count;
                if (_segmentOffset == _current.Segment.Length)
                {
                    // The reader is about to parse the header it just got: the file behind it must be known by then.
                    await TakeAheadAsync(cancellationToken).ConfigureAwait(false);
                }
                return count;
            }
            if (_current.File is { } file && _fileOffset < _current.Size)
            {
                int wanted = (int)Math.Min(buffer.Length, _current.Size - _fileOffset);
                int read = await RandomAccess.ReadAsync(file, buffer[..wanted], _fileOffset, cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    throw Invalid($"{_current.Name} ended {_current.Size - _fileOffset} bytes early while it was read (changed in the store?)");
                }
                _fileOffset += read;
                ArchivePosition += read;
                return read;
            }
            await TakeAheadAsync(cancellationToken).ConfigureAwait(false);
            if (!_ahead.TryDequeue(out var next))
            {
                return 0;
            }
            if (next.File is not null)
            {
                _aheadFileBytes -= next.Size;
                _aheadFiles--;
            }
            _current = next;
            _segmentOffset = 0;
            _fileOffset = 0;
        }
        return 0;
    }

    /// <summary>Takes entries until the look-ahead is full (at least one run queued, unless the layer has ended).</summary>
    private async ValueTask TakeAheadAsync(CancellationToken cancellationToken)
    {
        while (!_endTaken && (_ahead.Count == 0 || (_aheadFiles < FilesAhead && _aheadFileBytes < BytesAhead)))
        {
            await NextEntryAsync(cancellationToken).ConfigureAwait(false);
        }
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
