using Decant.Model;
using Decant.Tree;
using Microsoft.Win32.SafeHandles;

namespace Decant.Writers.Erofs;

/// <summary>
/// Writes each file's whole blocks straight into fresh blocks of the image as layers stream
/// (all-zero blocks and holes are never written: they become holes of a chunk-based file), and its
/// last partial block into a spool beside the image, from which commit places it inline after the
/// inode (or in a block of its own when it does not fit). Released content gives its blocks back
/// for what commit lays out. Thread-safe: allocation is locked and writes go to disjoint positions.
/// </summary>
internal sealed class ErofsContentStore : IContentStore, IDisposable
{
    private readonly SafeFileHandle _image;
    private readonly ErofsBlockAllocator _allocator;
    private readonly string _spoolDirectory;
    private readonly Lock _lock = new();
    private readonly List<ErofsContent> _written = [];
    private SafeFileHandle? _tails;
    private long _tailsEnd;

    public ErofsContentStore(SafeFileHandle image, ErofsBlockAllocator allocator, string spoolDirectory)
    {
        _image = image;
        _allocator = allocator;
        _spoolDirectory = spoolDirectory;
    }

    public async ValueTask<ContentRef> WriteAsync(Stream data, long size, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentOutOfRangeException.ThrowIfNegative(size);
        var content = new ErofsContent(size);
        if (size > 0)
        {
            await ContentCopy.CopyAsync(data, size, new BlockSink(this, content), cancellationToken).ConfigureAwait(false);
        }
        lock (_lock)
        {
            _written.Add(content);
        }
        return content;
    }

    public ValueTask ReleaseAsync(ContentRef content, CancellationToken cancellationToken)
    {
        Release((ErofsContent)content);
        return ValueTask.CompletedTask;
    }

    /// <summary>Releases every content the final tree does not use, whether or not the caller released it.</summary>
    public void ReleaseAllBut(IReadOnlySet<ContentRef> used)
    {
        lock (_lock)
        {
            ContentRelease.ReleaseAllBut(_written, used, Release);
        }
    }

    /// <summary>Reads a content's last partial block into <paramref name="destination"/> (its length), zeros when it was all zero.</summary>
    public async ValueTask ReadTailAsync(ErofsContent content, Memory<byte> destination, CancellationToken cancellationToken)
    {
        if (content.TailSpoolOffset < 0)
        {
            destination.Span.Clear();
            return;
        }
        int read = await RandomAccess.ReadAsync(_tails!, destination, content.TailSpoolOffset, cancellationToken).ConfigureAwait(false);
        if (read != destination.Length)
        {
            throw new DecantException(DecantErrorKind.OutputError, $"the tail spool beside the image ended early ({read} of {destination.Length} bytes)");
        }
    }

    /// <summary>Closes (so deletes) the tail spool.</summary>
    public void Dispose() => _tails?.Dispose();

    private void Release(ErofsContent content)
    {
        if (Interlocked.Exchange(ref content.Released, 1) == 0)
        {
            _allocator.Release(content.Runs);
        }
    }

    /// <summary>Appends a last partial block to the spool and returns where it is.</summary>
    private async ValueTask<long> SpoolTailAsync(ReadOnlyMemory<byte> tail, CancellationToken cancellationToken)
    {
        long at;
        lock (_lock)
        {
            _tails ??= OpenSpool();
            at = _tailsEnd;
            _tailsEnd += tail.Length;
        }
        await RandomAccess.WriteAsync(_tails, tail, at, cancellationToken).ConfigureAwait(false);
        return at;
    }

    private SafeFileHandle OpenSpool()
    {
        string path = Path.Combine(_spoolDirectory, $".decant-erofs-tails-{Guid.NewGuid():N}");
        try
        {
            return File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, FileOptions.DeleteOnClose | FileOptions.Asynchronous);
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            throw new DecantException(DecantErrorKind.OutputError, $"cannot create the spool for files' last blocks in {_spoolDirectory}: {error.Message}", error);
        }
    }

    /// <summary>
    /// One file's data: each run of whole blocks that are not all zero goes into fresh blocks of the
    /// image; the file's last partial block (when not all zero) goes to the spool.
    /// </summary>
    private readonly struct BlockSink(ErofsContentStore store, ErofsContent content) : IContentSink
    {
        public static int HoleAlignment => ErofsConstants.BlockSize;

        public static int ZeroBlockSize => ErofsConstants.BlockSize;

        public static bool ReadsWholeChunks => true;

        public async ValueTask WriteAsync(byte[] buffer, int start, int length, long offset, CancellationToken cancellationToken)
        {
            int tail = offset + length == content.Size ? content.TailLength : 0;
            int whole = length - tail;
            if (tail > 0)
            {
                content.TailSpoolOffset = await store.SpoolTailAsync(buffer.AsMemory(start + whole, tail), cancellationToken).ConfigureAwait(false);
            }
            if (whole > 0)
            {
                long blocks = whole >> ErofsConstants.BlockShift;
                long physical = store._allocator.AllocateFresh(blocks);
                content.AddRun(offset >> ErofsConstants.BlockShift, physical, blocks);
                await RandomAccess.WriteAsync(store._image, buffer.AsMemory(start, whole), physical << ErofsConstants.BlockShift, cancellationToken).ConfigureAwait(false);
            }
        }
    }
}

/// <summary>A file's content in the image: its runs of whole data blocks (holes between them), and where its last partial block waits.</summary>
internal sealed class ErofsContent(long size) : ContentRef(size)
{
    private readonly List<DataRun> _runs = [];

    /// <summary>The runs of whole blocks holding data, in logical order; the blocks not in a run are zeros.</summary>
    public IReadOnlyList<DataRun> Runs => _runs;

    /// <summary>The offset of the last partial block's bytes in the tail spool; -1 when there is none or it is all zero.</summary>
    public long TailSpoolOffset { get; set; } = -1;

    /// <summary>The length of the last partial block (0 when the size is a whole number of blocks).</summary>
    public int TailLength => (int)(Size & (ErofsConstants.BlockSize - 1));

    /// <summary>The whole blocks before the last partial one.</summary>
    public long WholeBlocks => Size >> ErofsConstants.BlockShift;

    /// <summary>Whether every whole block holds data, stored contiguously (so the plain layouts can hold the file).</summary>
    public bool IsContiguous => WholeBlocks == 0 || (_runs.Count == 1 && _runs[0].Logical == 0 && _runs[0].Blocks == WholeBlocks);

    /// <summary>1 once the blocks went back to the allocator.</summary>
    internal int Released;

    internal void AddRun(long logical, long physical, long blocks)
    {
        if (_runs.Count > 0 && _runs[^1].LogicalEnd == logical && _runs[^1].Physical + _runs[^1].Blocks == physical)
        {
            _runs[^1] = _runs[^1] with { Blocks = _runs[^1].Blocks + blocks };
            return;
        }
        _runs.Add(new DataRun(logical, physical, blocks));
    }
}
