using Decant.Interop;
using Decant.Model;
using Decant.Tree;
using Decant.Writers.Verity;
using Microsoft.Win32.SafeHandles;

namespace Decant.Writers.Erofs;

/// <summary>
/// Writes each file's whole blocks straight into fresh blocks of the image as layers stream
/// (all-zero blocks and holes are never written: they become holes of a chunk-based file), and its
/// last partial block into the tail spool (<see cref="ErofsTailSpool"/>), from which commit places
/// it inline after the inode (or in a block of its own when it does not fit). Released content
/// gives its blocks back for what commit lays out. Thread-safe: allocation is locked and writes go
/// to disjoint positions. A layer read ahead of its turn is written into a spool of its own
/// (<see cref="SpooledStoreContents{TStore}"/>) and moved in in its turn, so the image is the same bytes
/// however many layers are read at once.
/// </summary>
internal sealed class ErofsContentStore : ISpoolingContentStore<ErofsContentStore>, IDeferringContentStore, IDisposable
{
    private readonly SafeFileHandle _image;
    private readonly ErofsBlockAllocator _allocator;
    private readonly string? _spoolDirectory;
    private readonly ErofsCompressor? _compressor;
    private readonly ErofsTailSpool _tails;
    private readonly RangeCloner _cloner;
    private readonly WrittenContents<ErofsContent> _written = new();
    private readonly VerityDataDigests? _finalBlocks;

    /// <summary>
    /// A store writing into <paramref name="image"/>, compressing with <paramref name="compressor"/>
    /// when there is one; its spools go in <paramref name="spoolDirectory"/>; each file's blocks, once
    /// final, are handed to <paramref name="finalBlocks"/> when there is one.
    /// </summary>
    public ErofsContentStore(SafeFileHandle image, ErofsBlockAllocator allocator, string spoolDirectory, ErofsCompressor? compressor, VerityDataDigests? finalBlocks)
        : this(image, allocator, spoolDirectory, compressor, new ErofsTailSpool(spoolDirectory), finalBlocks)
    {
    }

    private ErofsContentStore(SafeFileHandle image, ErofsBlockAllocator allocator, string? spoolDirectory, ErofsCompressor? compressor, ErofsTailSpool tails, VerityDataDigests? finalBlocks)
    {
        _image = image;
        _allocator = allocator;
        _spoolDirectory = spoolDirectory;
        _compressor = compressor;
        _tails = tails;
        _finalBlocks = finalBlocks;
        _cloner = new RangeCloner(image);
    }

    /// <inheritdoc/>
    public IDeferredContents Defer(Task turn) =>
        new SpooledStoreContents<ErofsContentStore>(this, turn, _spoolDirectory ?? throw new InvalidOperationException("a spool does not spool again"));

    /// <summary>
    /// A store writing a layer read ahead of its turn into <paramref name="spool"/> (its blocks from
    /// the start, never compressed), its tails into this store's tail spool.
    /// </summary>
    public ErofsContentStore SpoolStore(SafeFileHandle spool) => new(spool, new ErofsBlockAllocator(), spoolDirectory: null, compressor: null, _tails, finalBlocks: null);

    public async ValueTask<ContentRef> WriteAsync(Stream data, long size, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentOutOfRangeException.ThrowIfNegative(size);
        var content = new ErofsContent(size);
        if (size > 0)
        {
            await ContentCopy.CopyAsync(data, size, new BlockSink(this, content), cancellationToken).ConfigureAwait(false);
            await CompressIfWorthAsync(content, cancellationToken).ConfigureAwait(false);
        }
        _written.Add(content);
        HandOver(content);
        return content;
    }

    /// <summary>
    /// Places the contents a spool store (<see cref="SpoolStore"/>) wrote into the image, in order:
    /// each run of their blocks is allocated as streaming would have allocated it and compressed
    /// as streaming would have compressed it, so the image is the same byte for byte; the blocks
    /// are shared or copied in the kernel, consecutive runs in one call.
    /// </summary>
    public async ValueTask PlaceSpooledAsync(SafeFileHandle spool, ErofsContentStore spoolStore, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(spoolStore);
        var contents = spoolStore._written.TakeAll();
        var copy = _cloner.Batch(spool, ErofsConstants.BlockSize);
        foreach (var content in contents)
        {
            var spooled = content.Runs;
            content.ClearRuns();
            foreach (var run in spooled)
            {
                long physical = _allocator.AllocateFresh(run.Blocks);
                content.AddRun(run.Logical, physical, run.Blocks);
                await copy.AddAsync(run.Physical, physical, run.Blocks, cancellationToken).ConfigureAwait(false);
            }
            if (WorthCompressing(content))
            {
                // Compression reads the file's blocks back from the image.
                await copy.FlushAsync(cancellationToken).ConfigureAwait(false);
                await CompressAsync(content, _compressor!, cancellationToken).ConfigureAwait(false);
            }
            _written.Add(content);
        }
        await copy.FlushAsync(cancellationToken).ConfigureAwait(false);
        foreach (var content in contents)
        {
            HandOver(content);
        }
    }

    /// <summary>Hands a file's blocks, written and compressed, to what hashes them behind the writing (with verity).</summary>
    private void HandOver(ErofsContent content)
    {
        if (_finalBlocks is not null)
        {
            foreach (var run in content.Runs)
            {
                _finalBlocks.Add(run.Physical, run.Blocks);
            }
        }
    }

    /// <summary>Whether a file just written is to be compressed: at least half of its whole blocks hold data, so the holes of a sparse file are not filled in.</summary>
    private bool WorthCompressing(ErofsContent content) =>
        _compressor is not null && content.WholeBlocks > 0 && 2 * content.DataBlocks >= content.WholeBlocks;

    private ValueTask CompressIfWorthAsync(ErofsContent content, CancellationToken cancellationToken) =>
        WorthCompressing(content) ? CompressAsync(content, _compressor!, cancellationToken) : ValueTask.CompletedTask;

    public ValueTask ReleaseAsync(ContentRef content, CancellationToken cancellationToken)
    {
        Release((ErofsContent)content);
        return ValueTask.CompletedTask;
    }

    /// <summary>Releases every content the final tree does not use (not marked <see cref="ErofsContent.InTree"/>), whether or not the caller released it.</summary>
    public void ReleaseNotInTree() => _written.ReleaseAllBut(keep: content => content.InTree, Release);

    /// <summary>What commit reads the files' last partial blocks with, in the tree's order: item <c>i</c>'s is <paramref name="tailOf"/>(<c>i</c>) (offset -1: none).</summary>
    public ErofsTailSpool.OrderedReader OpenTailReader(int count, Func<int, (long Offset, int Length)> tailOf) => _tails.OpenReader(count, tailOf);

    /// <summary>How much input is compressed at once, cluster by cluster on every core.</summary>
    private const int BatchBytes = 1 << 20;

    /// <summary>
    /// The compression buffers: a pool of its own that keeps two (the input and output of the one file
    /// compressed at a time), always of one size, a batch (a cluster may not be larger). The shared
    /// pool keeps arrays per core and per thread that returns one, and with 1 MiB batches that held
    /// over 15 MiB; buffers sized to each file filled a bucket of every size.
    /// </summary>
    private static readonly System.Buffers.ArrayPool<byte> CompressionBuffers = System.Buffers.ArrayPool<byte>.Create(BatchBytes, maxArraysPerBucket: 2);

    /// <summary>One compression per core at most: more threads would only add their compressors' memory.</summary>
    private static readonly ParallelOptions Parallelism = new() { MaxDegreeOfParallelism = Environment.ProcessorCount };

    /// <summary>
    /// Compresses a file just streamed (at least half of its blocks data, so holes of a sparse file
    /// are not filled in; its blocks still in the page cache): each cluster of its blocks (zeros
    /// for its holes, the last partial block from the spool) is compressed into fresh blocks after
    /// it, or copied there as it is when it does not shrink by a block. When the whole file takes
    /// fewer blocks so than its data blocks, the clusters move down over those and the rest of the
    /// image is given back; otherwise the file stays as it was streamed and the clusters are dropped.
    /// Clusters are compressed a batch at a time, the batch's clusters in parallel (each is compressed
    /// on its own), and placed in order, so the image is the same bytes on any number of cores.
    /// </summary>
    private async ValueTask CompressAsync(ErofsContent content, ErofsCompressor compressor, CancellationToken cancellationToken)
    {
        const int BlockSize = ErofsConstants.BlockSize;
        var runs = content.Runs;
        long rawStart = runs[0].Physical;
        long lclusters = (content.Size + BlockSize - 1) >> ErofsConstants.BlockShift;
        int clusterSize = compressor.ClusterSize;
        int batch = (int)Math.Clamp(Math.Min(BatchBytes / clusterSize, (lclusters + compressor.ClusterBlocks - 1) / compressor.ClusterBlocks), 1, 64);
        byte[] input = CompressionBuffers.Rent(BatchBytes);
        byte[] output = CompressionBuffers.Rent(BatchBytes);
        var packed = new int[batch];
        try
        {
            var clusters = new List<ErofsPcluster>();
            long start = -1, blocks = 0;
            for (long batchFirst = 0; batchFirst < lclusters; batchFirst += (long)batch * compressor.ClusterBlocks)
            {
                int inBatch = (int)Math.Min(batch, (lclusters - batchFirst + compressor.ClusterBlocks - 1) / compressor.ClusterBlocks);
                for (int k = 0; k < inBatch; k++)
                {
                    long first = batchFirst + (long)k * compressor.ClusterBlocks;
                    int count = (int)Math.Min(compressor.ClusterBlocks, lclusters - first);
                    int bytes = (int)Math.Min((long)count * BlockSize, content.Size - first * BlockSize);
                    int whole = (int)Math.Max(0, Math.Min(count, content.WholeBlocks - first)) * BlockSize;
                    var cluster = input.AsMemory(k * clusterSize, clusterSize);
                    await ReadBlocksAsync(runs, first, cluster[..whole], cancellationToken).ConfigureAwait(false);
                    if (bytes > whole)
                    {
                        await content.ReadTailAsync(_tails, cluster[whole..bytes], cancellationToken).ConfigureAwait(false);
                    }
                    cluster.Span[bytes..(count * BlockSize)].Clear();
                }
                CompressBatch(compressor, content.Size, lclusters, batchFirst, inBatch, input, output, packed);
                for (int k = 0; k < inBatch; k++)
                {
                    long first = batchFirst + (long)k * compressor.ClusterBlocks;
                    int count = (int)Math.Min(compressor.ClusterBlocks, lclusters - first);
                    var stored = StoredCluster(packed[k], count, input.AsMemory(k * clusterSize, clusterSize), output.AsMemory(k * clusterSize, clusterSize));
                    int storedBlocks = stored.Length / BlockSize;
                    long physical = _allocator.AllocateFresh(storedBlocks);
                    start = start < 0 ? physical : start;
                    clusters.Add(new ErofsPcluster(first, count, physical - start, storedBlocks, packed[k] > 0));
                    blocks += storedBlocks;
                    await RandomAccess.WriteAsync(_image, stored, physical * BlockSize, cancellationToken).ConfigureAwait(false);
                }
            }
            if (blocks >= content.DataBlocks)
            {
                _allocator.TryShrink(start + blocks, start);
                return;
            }
            long at = start;
            if (rawStart + content.DataBlocks == start && _allocator.TryShrink(start + blocks, rawStart + blocks))
            {
                // Nothing was placed since the file: the clusters move down over its plain blocks.
                await KernelCopy.CopyRangeAsync(_image, start * BlockSize, _image, rawStart * BlockSize, blocks * BlockSize, cancellationToken).ConfigureAwait(false);
                at = rawStart;
            }
            else
            {
                _allocator.Release(content.Runs);
            }
            content.SetCompressed(clusters, at, blocks);
        }
        finally
        {
            CompressionBuffers.Return(input);
            CompressionBuffers.Return(output);
        }
    }

    /// <summary>Compresses the batch's clusters (each into its own slot of <paramref name="output"/>), on every core when there are several; a cluster of one block is never compressed.</summary>
    private static void CompressBatch(ErofsCompressor compressor, long size, long lclusters, long batchFirst, int inBatch, byte[] input, byte[] output, int[] packed)
    {
        int clusterSize = compressor.ClusterSize;
        void One(int k)
        {
            long first = batchFirst + (long)k * compressor.ClusterBlocks;
            int count = (int)Math.Min(compressor.ClusterBlocks, lclusters - first);
            int bytes = (int)Math.Min((long)count * ErofsConstants.BlockSize, size - first * ErofsConstants.BlockSize);
            packed[k] = count > 1
                ? compressor.Compress(input.AsSpan(k * clusterSize, bytes), output.AsSpan(k * clusterSize, (count - 1) * ErofsConstants.BlockSize))
                : 0;
        }
        if (inBatch == 1)
        {
            One(0);
        }
        else
        {
            Parallel.For(0, inBatch, Parallelism, One);
        }
    }

    /// <summary>
    /// The blocks a cluster is stored as: its compressed bytes with zero padding at the front
    /// (lz4_0padding: the decompressor finds the data's start), or its blocks as they are when it did not shrink.
    /// </summary>
    private static Memory<byte> StoredCluster(int packed, int count, Memory<byte> input, Memory<byte> output)
    {
        const int BlockSize = ErofsConstants.BlockSize;
        if (packed == 0)
        {
            return input[..(count * BlockSize)];
        }
        int storedBlocks = (packed + BlockSize - 1) / BlockSize;
        int pad = storedBlocks * BlockSize - packed;
        var span = output.Span;
        span[..packed].CopyTo(span[pad..]);
        span[..pad].Clear();
        return output[..(storedBlocks * BlockSize)];
    }

    /// <summary>Reads a file's blocks from <paramref name="firstBlock"/> on into <paramref name="destination"/>: its runs from the image, zeros for its holes.</summary>
    private async ValueTask ReadBlocksAsync(IReadOnlyList<DataRun> runs, long firstBlock, Memory<byte> destination, CancellationToken cancellationToken)
    {
        destination.Span.Clear();
        long endBlock = firstBlock + (destination.Length >> ErofsConstants.BlockShift);
        foreach (var run in runs)
        {
            long from = Math.Max(run.Logical, firstBlock), to = Math.Min(run.LogicalEnd, endBlock);
            if (from < to)
            {
                var slice = destination[(int)((from - firstBlock) << ErofsConstants.BlockShift)..(int)((to - firstBlock) << ErofsConstants.BlockShift)];
                await ReadExactlyAsync(slice, (run.Physical + (from - run.Logical)) << ErofsConstants.BlockShift, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private async ValueTask ReadExactlyAsync(Memory<byte> destination, long offset, CancellationToken cancellationToken)
    {
        while (destination.Length > 0)
        {
            int read = await RandomAccess.ReadAsync(_image, destination, offset, cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                throw new DecantException(DecantErrorKind.OutputError, "the image ended before a file's blocks while compressing it");
            }
            destination = destination[read..];
            offset += read;
        }
    }

    /// <summary>Closes (so deletes) the tail spool.</summary>
    public void Dispose() => _tails.Dispose();

    private void Release(ErofsContent content)
    {
        if (Interlocked.Exchange(ref content.Released, 1) == 0)
        {
            _allocator.Release(content.Runs);
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
                content.TailSpoolOffset = await store._tails.AppendAsync(buffer.AsMemory(start + whole, tail), cancellationToken).ConfigureAwait(false);
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
    // Most files are one run: it is held here, and a list only for a file with holes (memory is per file).
    private DataRun _first;
    private int _runCount;
    private List<DataRun>? _more;

    /// <summary>The runs of whole blocks holding data, in logical order; the blocks not in a run are zeros.</summary>
    public IReadOnlyList<DataRun> Runs => _more ?? (_runCount == 0 ? [] : [_first]);

    /// <summary>The offset of the last partial block's bytes in the tail spool; -1 when there is none or it is all zero.</summary>
    public long TailSpoolOffset { get; set; } = -1;

    /// <summary>Reads the last partial block into <paramref name="destination"/> (its length) from where it waits, zeros when it was all zero.</summary>
    public ValueTask ReadTailAsync(ErofsTailSpool tails, Memory<byte> destination, CancellationToken cancellationToken)
    {
        if (TailSpoolOffset < 0)
        {
            destination.Span.Clear();
            return ValueTask.CompletedTask;
        }
        return tails.ReadAsync(TailSpoolOffset, destination, cancellationToken);
    }

    /// <summary>The length of the last partial block (0 when the size is a whole number of blocks).</summary>
    public int TailLength => (int)(Size & (ErofsConstants.BlockSize - 1));

    /// <summary>The whole blocks before the last partial one.</summary>
    public long WholeBlocks => Size >> ErofsConstants.BlockShift;

    /// <summary>How many whole blocks hold data (the rest are holes).</summary>
    public long DataBlocks => _more?.Sum(r => r.Blocks) ?? (_runCount == 0 ? 0 : _first.Blocks);

    /// <summary>Whether every whole block holds data, stored contiguously (so the plain layouts can hold the file).</summary>
    public bool IsContiguous => WholeBlocks == 0 || (_runCount == 1 && _first.Logical == 0 && _first.Blocks == WholeBlocks);

    /// <summary>1 once the blocks went back to the allocator.</summary>
    internal int Released;

    /// <summary>Set at commit on every content the merged tree still holds; the others give their blocks back.</summary>
    internal bool InTree;

    /// <summary>For a compressed file: its physical clusters in order, each at a block offset from <see cref="CompressedStart"/>; otherwise null.</summary>
    public IReadOnlyList<ErofsPcluster>? Clusters { get; private set; }

    /// <summary>The first block of a compressed file's clusters.</summary>
    public long CompressedStart { get; private set; }

    /// <summary>The blocks a compressed file's clusters take.</summary>
    public long CompressedBlocks { get; private set; }

    /// <summary>Makes this a compressed file whose clusters take <paramref name="blocks"/> blocks from <paramref name="start"/>.</summary>
    internal void SetCompressed(List<ErofsPcluster> clusters, long start, long blocks)
    {
        Clusters = clusters;
        CompressedStart = start;
        CompressedBlocks = blocks;
        (_first, _runCount, _more) = (new DataRun(0, start, blocks), 1, null);
        TailSpoolOffset = -1;
    }

    /// <summary>Forgets the runs (before they are added again where the blocks moved).</summary>
    internal void ClearRuns() => (_first, _runCount, _more) = (default, 0, null);

    internal void AddRun(long logical, long physical, long blocks)
    {
        var last = _more is null ? _first : _more[^1];
        if (_runCount > 0 && last.LogicalEnd == logical && last.Physical + last.Blocks == physical)
        {
            last = last with { Blocks = last.Blocks + blocks };
            if (_more is null)
            {
                _first = last;
            }
            else
            {
                _more[^1] = last;
            }
            return;
        }
        var run = new DataRun(logical, physical, blocks);
        if (_runCount == 0)
        {
            _first = run;
        }
        else
        {
            (_more ??= [_first]).Add(run);
        }
        _runCount++;
    }
}

/// <summary>
/// One physical cluster of a compressed file: the logical clusters (blocks) it holds from
/// <paramref name="FirstLcluster"/>, and the <paramref name="Blocks"/> it is stored in from
/// <paramref name="Offset"/> blocks after the file's first; LZ4-compressed, or stored as it is.
/// </summary>
internal readonly record struct ErofsPcluster(long FirstLcluster, int Lclusters, long Offset, int Blocks, bool Compressed);
