using System.Buffers;
using Decant.Model;
using Decant.Tree;
using Microsoft.Win32.SafeHandles;

namespace Decant.Writers.Ext4;

/// <summary>
/// Writes each file's bytes straight into data blocks of the image as layers stream. All-zero
/// blocks are never allocated (they become holes); other blocks take fresh blocks from the
/// <see cref="BlockAllocator"/>. Released content gives its blocks back for metadata at commit.
/// Thread-safe: allocation is locked and writes go to disjoint positions.
/// </summary>
internal sealed class Ext4ContentStore : IContentStore
{
    private const int ChunkBlocks = 256; // 1 MiB per read
    private readonly SafeFileHandle _image;
    private readonly BlockAllocator _allocator;
    private readonly Lock _lock = new();
    private readonly List<Ext4Content> _written = [];

    public Ext4ContentStore(SafeFileHandle image, BlockAllocator allocator)
    {
        _image = image;
        _allocator = allocator;
    }

    public async ValueTask<ContentRef> WriteAsync(Stream data, long size, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentOutOfRangeException.ThrowIfNegative(size);
        if (((size + Ext4Constants.BlockSize - 1) >> Ext4Constants.BlockShift) > uint.MaxValue)
        {
            throw new DecantException(DecantErrorKind.OutputError, $"a file of {size} bytes is larger than ext4 allows with 4 KiB blocks");
        }
        if (size == 0)
        {
            // Empty files are common (a 100 000-file directory of them is a test case): no blocks, no lists.
            var empty = new Ext4Content(0, []);
            lock (_lock)
            {
                _written.Add(empty);
            }
            return empty;
        }
        var extents = new List<FileExtent>();
        byte[] buffer = ArrayPool<byte>.Shared.Rent(ChunkBlocks * Ext4Constants.BlockSize);
        var runs = new List<BlockRun>();
        try
        {
            long done = 0;
            while (done < size)
            {
                if (data is IHoleSkippingStream sparse && sparse.SkipHole(Ext4Constants.BlockSize) is > 0 and var hole)
                {
                    done += hole; // whole blocks of a sparse hole: never allocated
                    continue;
                }
                int want = (int)Math.Min(buffer.Length, size - done);
                int read = await data.ReadAtLeastAsync(buffer.AsMemory(0, want), want, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
                if (read < want)
                {
                    throw new DecantException(DecantErrorKind.InvalidLayer, $"file content ended after {done + read} of {size} bytes");
                }
                int blocks = (want + Ext4Constants.BlockSize - 1) / Ext4Constants.BlockSize;
                buffer.AsSpan(want, blocks * Ext4Constants.BlockSize - want).Clear();
                await StoreChunkAsync(buffer, blocks, (uint)(done >> Ext4Constants.BlockShift), extents, runs, cancellationToken).ConfigureAwait(false);
                done += want;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        var content = new Ext4Content(size, extents);
        lock (_lock)
        {
            _written.Add(content);
        }
        return content;
    }

    public ValueTask ReleaseAsync(ContentRef content, CancellationToken cancellationToken)
    {
        Release((Ext4Content)content);
        return ValueTask.CompletedTask;
    }

    /// <summary>Releases every content the final tree does not use, whether or not the caller released it.</summary>
    public void ReleaseAllBut(IReadOnlySet<ContentRef> used)
    {
        lock (_lock)
        {
            foreach (var content in _written)
            {
                if (!used.Contains(content))
                {
                    Release(content);
                }
            }
            _written.Clear();
        }
    }

    private void Release(Ext4Content content)
    {
        if (Interlocked.Exchange(ref content.Released, 1) == 0)
        {
            _allocator.Release(content.Extents.Select(e => new BlockRun(e.Physical, e.Length)));
        }
    }

    /// <summary>Writes the non-zero blocks of one chunk, each run of them into freshly allocated blocks.</summary>
    private async ValueTask StoreChunkAsync(byte[] buffer, int blocks, uint firstLogical, List<FileExtent> extents, List<BlockRun> runs, CancellationToken cancellationToken)
    {
        int block = 0;
        while (block < blocks)
        {
            if (IsZeroBlock(buffer, block))
            {
                block++;
                continue;
            }
            int runStart = block;
            while (block < blocks && !IsZeroBlock(buffer, block))
            {
                block++;
            }
            runs.Clear();
            _allocator.AllocateFresh(block - runStart, runs);
            int offset = runStart;
            foreach (var run in runs)
            {
                var bytes = buffer.AsMemory(offset * Ext4Constants.BlockSize, (int)run.Length * Ext4Constants.BlockSize);
                await RandomAccess.WriteAsync(_image, bytes, run.Start * Ext4Constants.BlockSize, cancellationToken).ConfigureAwait(false);
                AddExtent(extents, firstLogical + (uint)offset, run.Start, (int)run.Length);
                offset += (int)run.Length;
            }
        }
    }

    private static bool IsZeroBlock(byte[] buffer, int block) =>
        !buffer.AsSpan(block * Ext4Constants.BlockSize, Ext4Constants.BlockSize).ContainsAnyExcept((byte)0);

    private static void AddExtent(List<FileExtent> extents, uint logical, long physical, int length)
    {
        while (length > 0)
        {
            if (extents.Count > 0)
            {
                var last = extents[^1];
                if (last.Logical + (uint)last.Length == logical && last.Physical + last.Length == physical && last.Length < Ext4Constants.MaxExtentLength)
                {
                    int grow = Math.Min(length, Ext4Constants.MaxExtentLength - last.Length);
                    extents[^1] = last with { Length = last.Length + grow };
                    logical += (uint)grow;
                    physical += grow;
                    length -= grow;
                    continue;
                }
            }
            int take = Math.Min(length, Ext4Constants.MaxExtentLength);
            extents.Add(new FileExtent(logical, physical, take));
            logical += (uint)take;
            physical += take;
            length -= take;
        }
    }
}

/// <summary>A file's content in the image: its extents (holes are the gaps between them).</summary>
internal sealed class Ext4Content(long size, IReadOnlyList<FileExtent> extents) : ContentRef(size)
{
    public IReadOnlyList<FileExtent> Extents { get; } = extents;

    /// <summary>1 once the blocks went back to the allocator.</summary>
    internal int Released;

    public long AllocatedBlocks => Extents.Sum(e => (long)e.Length);
}
