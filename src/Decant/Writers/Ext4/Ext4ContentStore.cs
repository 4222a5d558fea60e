using Decant.Interop;
using Decant.Model;
using Decant.Tree;
using Decant.Writers.Verity;
using Microsoft.Win32.SafeHandles;

namespace Decant.Writers.Ext4;

/// <summary>
/// Writes each file's bytes straight into data blocks of the image as layers stream. All-zero
/// blocks are never allocated (they become holes); other blocks take fresh blocks from the
/// <see cref="BlockAllocator"/>. Released content gives its blocks back for metadata at commit.
/// Thread-safe: allocation is locked and writes go to disjoint positions.
/// </summary>
internal sealed class Ext4ContentStore : ISpoolingContentStore<Ext4ContentStore>, IFileContentStore, IDeferringContentStore
{
    private readonly SafeFileHandle _image;
    private readonly BlockAllocator _allocator;
    private readonly string? _spoolDirectory;
    private readonly WrittenContents<Ext4Content> _written = new();
    private readonly RangeCloner _cloner;
    private readonly VerityDataDigests? _finalBlocks;

    /// <summary>
    /// A store writing into <paramref name="image"/>; layers read ahead of their turn are spooled in
    /// <paramref name="spoolDirectory"/> (null: this store is such a spool); each file's blocks, once
    /// final, are handed to <paramref name="finalBlocks"/> when there is one.
    /// </summary>
    public Ext4ContentStore(SafeFileHandle image, BlockAllocator allocator, string? spoolDirectory, VerityDataDigests? finalBlocks)
    {
        _image = image;
        _cloner = new RangeCloner(image);
        _allocator = allocator;
        _spoolDirectory = spoolDirectory;
        _finalBlocks = finalBlocks;
    }

    /// <inheritdoc/>
    public IDeferredContents Defer(Task turn) =>
        new SpooledStoreContents<Ext4ContentStore>(this, turn, _spoolDirectory ?? throw new InvalidOperationException("a spool does not spool again"));

    /// <inheritdoc/>
    // The spool's blocks start at 0 and skip no zones: no filesystem is laid out in it.
    public Ext4ContentStore SpoolStore(SafeFileHandle spool) => new(spool, new BlockAllocator(new GroupLayout(maxGroups: 0)), spoolDirectory: null, finalBlocks: null);

    /// <summary>
    /// Places the contents a spool store (<see cref="SpoolStore"/> over <paramref name="spool"/>) wrote into the image,
    /// in order: each run of their blocks is allocated as streaming would have allocated it, so the
    /// image is the same byte for byte, then the blocks are cloned or copied over, consecutive runs
    /// in one call.
    /// </summary>
    public async ValueTask PlaceSpooledAsync(SafeFileHandle spool, Ext4ContentStore spoolStore, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(spoolStore);
        var contents = spoolStore._written.TakeAll();
        var runs = new List<BlockRun>();
        var copy = _cloner.Batch(spool, Ext4Constants.BlockSize);
        foreach (var content in contents)
        {
            var extents = new List<FileExtent>(content.Extents.Count);
            foreach (var spooled in content.Extents)
            {
                AllocateFresh(_allocator, extents, spooled.Logical, spooled.Length, runs);
                long from = spooled.Physical;
                foreach (var run in runs)
                {
                    await copy.AddAsync(from, run.Start, run.Length, cancellationToken).ConfigureAwait(false);
                    from += run.Length;
                }
            }
            content.MoveTo(extents);
            _written.Add(content);
        }
        await copy.FlushAsync(cancellationToken).ConfigureAwait(false);
        foreach (var content in contents)
        {
            HandOver(content);
        }
    }

    /// <summary>Hands a file's blocks, written, to what hashes them behind the writing (with verity).</summary>
    private void HandOver(Ext4Content content)
    {
        if (_finalBlocks is not null)
        {
            foreach (var extent in content.Extents)
            {
                _finalBlocks.Add(extent.Physical, extent.Length);
            }
        }
    }

    public async ValueTask<ContentRef> WriteAsync(Stream data, long size, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentOutOfRangeException.ThrowIfNegative(size);
        CheckSize(size);
        if (size == 0)
        {
            // Empty files are common (a 100 000-file directory of them is a test case): no blocks, no lists.
            var empty = new Ext4Content(0, []);
            _written.Add(empty);
            return empty;
        }
        var extents = new List<FileExtent>();
        await ContentCopy.CopyAsync(data, size, new BlockSink(_image, _allocator, extents, []), cancellationToken).ConfigureAwait(false);
        var content = new Ext4Content(size, extents);
        _written.Add(content);
        HandOver(content);
        return content;
    }

    /// <summary>
    /// Places a cache object into fresh blocks: each of its data ranges (which are exactly its blocks
    /// that are not all zero) is allocated as streaming would allocate it, so the image is the same
    /// byte for byte, then shares the object's blocks (FICLONERANGE) where the filesystem can, or is
    /// copied in the kernel. A small object, or one whose holes cannot be known exactly, is read like a stream.
    /// </summary>
    public async ValueTask<PlacedContent> PlaceAsync(SafeFileHandle source, long size, FileMetadataHint? hint, CancellationToken cancellationToken)
    {
        var ranges = size <= KernelCopy.SmallFileLimit ? null : FileDataRanges.TryFindBlocks(source, size, Ext4Constants.BlockSize);
        if (ranges is null)
        {
            // A small object is read whole, its zero blocks found as streaming finds them.
            await using var stream = new FileContentStream(source, size);
            return new PlacedContent(await WriteAsync(stream, size, cancellationToken).ConfigureAwait(false), Reflinked: false);
        }
        CheckSize(size);
        var extents = new List<FileExtent>();
        var runs = new List<BlockRun>();
        bool cloned = false, copied = false;
        foreach (var (offset, length) in ranges)
        {
            AllocateFresh(_allocator, extents, (uint)(offset >> Ext4Constants.BlockShift), (length + Ext4Constants.BlockSize - 1) >> Ext4Constants.BlockShift, runs);
            long from = offset, left = length;
            foreach (var run in runs)
            {
                long bytes = Math.Min(run.Length * Ext4Constants.BlockSize, left);
                long whole = bytes & ~(long)(Ext4Constants.BlockSize - 1);
                long at = run.Start * Ext4Constants.BlockSize;
                if (whole > 0 && await _cloner.CloneOrCopyAsync(source, from, at, whole, cancellationToken).ConfigureAwait(false))
                {
                    cloned = true;
                }
                else if (whole > 0)
                {
                    copied = true;
                }
                if (bytes > whole)
                {
                    // The last partial block: the rest of an unwritten block in the image reads as zeros.
                    await KernelCopy.CopyRangeAsync(source, from + whole, _image, at + whole, bytes - whole, cancellationToken).ConfigureAwait(false);
                }
                from += bytes;
                left -= bytes;
            }
        }
        var content = new Ext4Content(size, extents);
        _written.Add(content);
        HandOver(content);
        // Reflinked: every whole block shares the object's (a last partial block is always copied).
        return new PlacedContent(content, cloned && !copied);
    }

    public ValueTask ReleaseAsync(ContentRef content, CancellationToken cancellationToken)
    {
        Release((Ext4Content)content);
        return ValueTask.CompletedTask;
    }

    /// <summary>Releases every content the final tree does not use (not marked <see cref="Ext4Content.InTree"/>), whether or not the caller released it.</summary>
    public void ReleaseNotInTree() => _written.ReleaseAllBut(keep: content => content.InTree, Release);

    private static void CheckSize(long size)
    {
        if (((size + Ext4Constants.BlockSize - 1) >> Ext4Constants.BlockShift) > uint.MaxValue)
        {
            throw new DecantException(DecantErrorKind.OutputError, $"a file of {size} bytes is larger than ext4 allows with 4 KiB blocks");
        }
    }

    private void Release(Ext4Content content)
    {
        if (Interlocked.Exchange(ref content.Released, 1) == 0)
        {
            _allocator.Release(content.Extents.Select(e => new BlockRun(e.Physical, e.Length)));
        }
    }

    /// <summary>
    /// Takes <paramref name="blocks"/> fresh blocks for a file's blocks from <paramref name="logical"/>
    /// on, into <paramref name="runs"/> (cleared first), and adds them to its extents: the one way
    /// streaming, placing an object and placing a spool allocate, so they give the same image.
    /// </summary>
    private static void AllocateFresh(BlockAllocator allocator, List<FileExtent> extents, uint logical, long blocks, List<BlockRun> runs)
    {
        runs.Clear();
        allocator.AllocateFresh(blocks, runs);
        foreach (var run in runs)
        {
            AddExtent(extents, logical, run.Start, (int)run.Length);
            logical += (uint)run.Length;
        }
    }

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

    /// <summary>
    /// One file's data blocks: each run of blocks that are not all zero goes into freshly allocated
    /// blocks and becomes extents; zero blocks and holes are never allocated.
    /// </summary>
    private readonly struct BlockSink(SafeFileHandle image, BlockAllocator allocator, List<FileExtent> extents, List<BlockRun> runs) : IContentSink
    {
        public static int HoleAlignment => Ext4Constants.BlockSize;

        public static int ZeroBlockSize => Ext4Constants.BlockSize;

        public static bool ReadsWholeChunks => true;

        public ValueTask WriteAsync(byte[] buffer, int start, int length, long offset, CancellationToken cancellationToken)
        {
            int blocks = (length + Ext4Constants.BlockSize - 1) / Ext4Constants.BlockSize;
            buffer.AsSpan(start + length, blocks * Ext4Constants.BlockSize - length).Clear(); // the file's last block, padded
            AllocateFresh(allocator, extents, (uint)(offset >> Ext4Constants.BlockShift), blocks, runs);
            return runs.Count == 1 ? WriteRun(buffer, start, runs[0], cancellationToken) : WriteRunsAsync(buffer, start, cancellationToken);
        }

        private ValueTask WriteRun(byte[] buffer, int start, BlockRun run, CancellationToken cancellationToken) =>
            RandomAccess.WriteAsync(image, buffer.AsMemory(start, (int)run.Length * Ext4Constants.BlockSize), run.Start * Ext4Constants.BlockSize, cancellationToken);

        private async ValueTask WriteRunsAsync(byte[] buffer, int start, CancellationToken cancellationToken)
        {
            foreach (var run in runs)
            {
                await WriteRun(buffer, start, run, cancellationToken).ConfigureAwait(false);
                start += (int)run.Length * Ext4Constants.BlockSize;
            }
        }
    }
}

/// <summary>A file's content in the image: its extents (holes are the gaps between them).</summary>
internal sealed class Ext4Content(long size, IReadOnlyList<FileExtent> extents) : ContentRef(size)
{
    // Held as an exact array, not the list it was built in: one small object per file instead of a
    // list and its spare capacity (80 bytes less per file, 2.6 MB on an image of 32 k files).
    public IReadOnlyList<FileExtent> Extents { get; private set; } = Exact(extents);

    /// <summary>Gives the content its blocks in the image (it was spooled, its extents the spool's).</summary>
    internal void MoveTo(IReadOnlyList<FileExtent> extents) => Extents = Exact(extents);

    private static FileExtent[] Exact(IReadOnlyList<FileExtent> extents) => extents.Count == 0 ? [] : [.. extents];

    /// <summary>1 once the blocks went back to the allocator.</summary>
    internal int Released;

    /// <summary>Set at commit on every content the merged tree still holds; the others give their blocks back.</summary>
    internal bool InTree;

    public long AllocatedBlocks => Extents.Sum(e => (long)e.Length);
}
