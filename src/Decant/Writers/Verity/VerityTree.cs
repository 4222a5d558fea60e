using System.Buffers;
using System.Runtime.ExceptionServices;
using System.Security.Cryptography;
using Decant.Interop;
using Decant.Model;
using Decant.Tree;
using Microsoft.Win32.SafeHandles;

namespace Decant.Writers.Verity;

/// <summary>
/// Computes a dm-verity hash tree (format version 1: each block hashed with the salt before it)
/// over the start of a file and writes its levels into the same file, level 0 first. Each level is
/// hashed in 512 KiB chunks by one worker per core, reading through the page cache; its digests go
/// straight to the level's place in the file, so memory stays a few buffers whatever the image's
/// size, and each level above is hashed by reading back the one below (1/128 of its size). Holes
/// (and all-zero blocks) are not hashed: they all have the hash of a zero block; nor are the data
/// blocks whose digests were computed before (<see cref="VerityDataDigests"/>): level 0 reads those.
/// </summary>
internal sealed class VerityTree
{
    /// <summary>The data and hash block size: 4096 bytes, the page size the kernel needs.</summary>
    public const int BlockSize = 4096;

    /// <summary>The blocks a worker reads and hashes at once: 512 KiB, a whole number of hash blocks for sha256 and sha512.</summary>
    private const int ChunkBlocks = 128;

    private readonly SafeFileHandle _file;
    private readonly VerityAlgorithm _algorithm;
    private readonly byte[] _salt;
    private readonly int _hashesPerBlock;
    private readonly byte[] _zeroBlockHash;

    private VerityTree(SafeFileHandle file, VerityAlgorithm algorithm, byte[] salt)
    {
        _file = file;
        _algorithm = algorithm;
        _salt = salt;
        _hashesPerBlock = algorithm.HashesPerBlock(BlockSize);
        using var hash = new VerityBlockHash(algorithm);
        _zeroBlockHash = new byte[algorithm.DigestBytes];
        hash.Hash(_salt, new byte[BlockSize], _zeroBlockHash);
    }

    /// <summary>The tree's layout over <paramref name="dataBlocks"/> blocks with <paramref name="algorithm"/>'s digests.</summary>
    public static VerityTreeLayout LayoutFor(long dataBlocks, VerityAlgorithm algorithm) =>
        VerityTreeLayout.For(dataBlocks, algorithm.HashesPerBlock(BlockSize));

    /// <summary>
    /// Hashes the first <paramref name="dataBlocks"/> blocks of <paramref name="file"/>, writes the
    /// tree's levels from <paramref name="treeOffset"/> on (a block boundary past the data) and
    /// returns the root hash. The blocks whose digests <paramref name="known"/> holds (computed with
    /// the same algorithm and salt) are not read again; null hashes every block.
    /// </summary>
    public static async Task<byte[]> WriteAsync(SafeFileHandle file, long dataBlocks, long treeOffset, VerityAlgorithm algorithm, byte[] salt, VerityDataDigests? known, CancellationToken cancellationToken)
    {
        var tree = new VerityTree(file, algorithm, salt);
        var layout = LayoutFor(dataBlocks, algorithm);
        long source = 0, sourceBlocks = dataBlocks;
        for (int level = 0; level < layout.Levels; level++)
        {
            long destination = treeOffset + layout.StartOf(level) * BlockSize;
            await tree.HashLevelAsync(source, sourceBlocks, destination, level == 0 ? known : null, cancellationToken).ConfigureAwait(false);
            (source, sourceBlocks) = (destination, layout.BlocksOf(level));
        }
        // The root hash is the hash of the top level's one block (of the one data block when there is no level).
        return await tree.HashOneBlockAsync(source, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Hashes <paramref name="blocks"/> blocks at <paramref name="source"/> into one level of digests at <paramref name="destination"/>, one worker per core.</summary>
    private async Task HashLevelAsync(long source, long blocks, long destination, VerityDataDigests? known, CancellationToken cancellationToken)
    {
        var level = new Level(source, blocks, destination, FileDataRanges.Find(_file, source, blocks * BlockSize), known);
        int workers = (int)Math.Min(Environment.ProcessorCount, level.Chunks);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var tasks = new Task[workers];
        for (int i = 0; i < workers; i++)
        {
            tasks[i] = Task.Run(() => HashChunksAsync(level, stop), stop.Token);
        }
        try
        {
            await Task.WhenAll(tasks).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // A worker failed and stopped the others: its error is the one to report.
            var failure = tasks.Select(t => t.Exception?.InnerException).FirstOrDefault(e => e is not null and not OperationCanceledException);
            if (failure is null)
            {
                throw;
            }
            ExceptionDispatchInfo.Throw(failure);
        }
    }

    /// <summary>One worker: takes chunks of the level until none is left; on failure, stops the other workers.</summary>
    private async Task HashChunksAsync(Level level, CancellationTokenSource stop)
    {
        byte[] data = ArrayPool<byte>.Shared.Rent(ChunkBlocks * BlockSize);
        byte[] digests = ArrayPool<byte>.Shared.Rent(ChunkBlocks / _hashesPerBlock * BlockSize);
        using var hash = new VerityBlockHash(_algorithm);
        try
        {
            while (level.TakeChunk() is { } chunk)
            {
                await HashChunkAsync(level, chunk, data, digests, hash, stop.Token).ConfigureAwait(false);
            }
        }
        catch
        {
            await stop.CancelAsync().ConfigureAwait(false);
            throw;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(data);
            ArrayPool<byte>.Shared.Return(digests);
        }
    }

    /// <summary>
    /// Hashes one chunk's blocks (reading only those the file holds data in, and only those whose
    /// digests are not known) and writes its hash blocks.
    /// </summary>
    private async Task HashChunkAsync(Level level, long chunk, byte[] data, byte[] digests, VerityBlockHash hash, CancellationToken cancellationToken)
    {
        long first = chunk * ChunkBlocks;
        long end = Math.Min(first + ChunkBlocks, level.Blocks);
        int hashBlocks = (int)((end - first + _hashesPerBlock - 1) / _hashesPerBlock);
        Array.Clear(digests, 0, hashBlocks * BlockSize);
        if (level.Known is { } known)
        {
            await known.ReadAsync(first, end, digests, cancellationToken).ConfigureAwait(false);
        }
        foreach (var (from, to) in level.UnknownWithin(first, end))
        {
            await HashBlocksAsync(level, first, from, to, data, digests, hash, cancellationToken).ConfigureAwait(false);
        }
        long destination = level.Destination + chunk * (ChunkBlocks / _hashesPerBlock) * BlockSize;
        await RandomAccess.WriteAsync(_file, digests.AsMemory(0, hashBlocks * BlockSize), destination, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Hashes blocks [<paramref name="from"/>, <paramref name="to"/>) of the chunk from <paramref name="first"/> into their slots.</summary>
    private async Task HashBlocksAsync(Level level, long first, long from, long to, byte[] data, byte[] digests, VerityBlockHash hash, CancellationToken cancellationToken)
    {
        long block = from;
        foreach (var (start, stop) in level.DataBlocksWithin(from, to))
        {
            FillZeroHashes(digests, (int)(block - first), (int)(start - block));
            int count = (int)(stop - start);
            await ReadExactlyAsync(data.AsMemory(0, count * BlockSize), level.Source + start * BlockSize, cancellationToken).ConfigureAwait(false);
            for (int i = 0; i < count; i++)
            {
                var bytes = data.AsSpan(i * BlockSize, BlockSize);
                var digest = DigestSlot(digests, (int)(start - first) + i);
                if (ContentCopy.IsZero(bytes))
                {
                    _zeroBlockHash.CopyTo(digest);
                }
                else
                {
                    hash.Hash(_salt, bytes, digest);
                }
            }
            block = stop;
        }
        FillZeroHashes(digests, (int)(block - first), (int)(to - block));
    }

    /// <summary>Where the digest of a chunk's block <paramref name="index"/> goes among the chunk's hash blocks.</summary>
    private Span<byte> DigestSlot(byte[] digests, int index) =>
        digests.AsSpan(index / _hashesPerBlock * BlockSize + index % _hashesPerBlock * _algorithm.DigestStride, _algorithm.DigestBytes);

    private void FillZeroHashes(byte[] digests, int index, int count)
    {
        for (int i = index; i < index + count; i++)
        {
            _zeroBlockHash.CopyTo(DigestSlot(digests, i));
        }
    }

    /// <summary>The hash of the one block at <paramref name="offset"/>.</summary>
    private async Task<byte[]> HashOneBlockAsync(long offset, CancellationToken cancellationToken)
    {
        byte[] block = new byte[BlockSize];
        await ReadExactlyAsync(block, offset, cancellationToken).ConfigureAwait(false);
        using var hash = new VerityBlockHash(_algorithm);
        byte[] digest = new byte[_algorithm.DigestBytes];
        hash.Hash(_salt, block, digest);
        return digest;
    }

    private async Task ReadExactlyAsync(Memory<byte> buffer, long offset, CancellationToken cancellationToken)
    {
        int done = 0;
        while (done < buffer.Length)
        {
            int read = await RandomAccess.ReadAsync(_file, buffer[done..], offset + done, cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                throw new DecantException(DecantErrorKind.IOError, $"the image ends at byte {offset + done}, inside the {buffer.Length} bytes being hashed for dm-verity");
            }
            done += read;
        }
    }

    /// <summary>One level being hashed: its source blocks, where its digests go, the digests known before, and the chunks not yet taken.</summary>
    private sealed class Level(long source, long blocks, long destination, List<(long Offset, long Length)> dataRanges, VerityDataDigests? known)
    {
        private long _nextChunk = -1;

        public long Source { get; } = source;
        public long Blocks { get; } = blocks;
        public long Destination { get; } = destination;
        public long Chunks { get; } = (blocks + ChunkBlocks - 1) / ChunkBlocks;
        public VerityDataDigests? Known { get; } = known;

        /// <summary>The next chunk no worker has taken, or null when all are.</summary>
        public long? TakeChunk()
        {
            long chunk = Interlocked.Increment(ref _nextChunk);
            return chunk < Chunks ? chunk : null;
        }

        /// <summary>
        /// The runs of blocks in [<paramref name="first"/>, <paramref name="end"/>) that hold data, in
        /// order, each widened to whole blocks; every other block of the range reads as zeros.
        /// </summary>
        public IEnumerable<(long Start, long Stop)> DataBlocksWithin(long first, long end)
        {
            int index = FirstEndingAfter(dataRanges, range => range.Offset + range.Length, first * BlockSize);
            long previous = first;
            for (; index < dataRanges.Count && dataRanges[index].Offset < end * BlockSize; index++)
            {
                var (offset, length) = dataRanges[index];
                long start = Math.Max(previous, offset / BlockSize);
                long stop = Math.Min(end, (offset + length + BlockSize - 1) / BlockSize);
                if (start < stop)
                {
                    yield return (start, stop);
                    previous = stop;
                }
            }
        }

        /// <summary>The runs of blocks in [<paramref name="first"/>, <paramref name="end"/>) whose digests are not known, in order.</summary>
        public IEnumerable<(long Start, long Stop)> UnknownWithin(long first, long end)
        {
            if (Known is null)
            {
                yield return (first, end);
                yield break;
            }
            var covered = Known.Covered;
            long previous = first;
            for (int index = FirstEndingAfter(covered, range => range.Stop, first); index < covered.Count && covered[index].Start < end; index++)
            {
                if (covered[index].Start > previous)
                {
                    yield return (previous, covered[index].Start);
                }
                previous = Math.Max(previous, covered[index].Stop);
            }
            if (previous < end)
            {
                yield return (previous, end);
            }
        }

        /// <summary>
        /// The index of the first of <paramref name="ranges"/> (sorted and disjoint) whose end, as
        /// <paramref name="endOf"/> gives it, is past <paramref name="value"/>: a binary search.
        /// </summary>
        private static int FirstEndingAfter<T>(IReadOnlyList<T> ranges, Func<T, long> endOf, long value)
        {
            int low = 0, high = ranges.Count;
            while (low < high)
            {
                int middle = (low + high) >>> 1;
                if (endOf(ranges[middle]) <= value)
                {
                    low = middle + 1;
                }
                else
                {
                    high = middle;
                }
            }
            return low;
        }
    }
}
