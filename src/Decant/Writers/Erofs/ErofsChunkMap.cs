using System.Numerics;
using static Decant.Writers.LittleEndian;

namespace Decant.Writers.Erofs;

/// <summary>A run of a file's blocks that holds data: <paramref name="Blocks"/> logical blocks from <paramref name="Logical"/>, stored contiguously from block <paramref name="Physical"/>.</summary>
internal readonly record struct DataRun(long Logical, long Physical, long Blocks)
{
    public long LogicalEnd => Logical + Blocks;
}

/// <summary>
/// The chunk-based layout of a file with holes: the file is cut into chunks of 2^k blocks, each
/// either stored contiguously or a hole, and the inode is followed by a 4-byte block map (one
/// block address per chunk, <see cref="ErofsConstants.NullAddress"/> for a hole).
/// </summary>
internal static class ErofsChunkMap
{
    /// <summary>
    /// The largest k (chunk size 2^k blocks) at which every chunk of a file of <paramref name="totalBlocks"/>
    /// blocks lies wholly in one run or wholly in a hole: every run starts on a chunk boundary and
    /// ends on one or at the file's end. At most enough for one chunk to cover the file.
    /// </summary>
    public static int ChooseBlockBits(IReadOnlyList<DataRun> runs, long totalBlocks)
    {
        int bits = totalBlocks <= 1 ? 0 : 64 - BitOperations.LeadingZeroCount((ulong)(totalBlocks - 1));
        bits = Math.Min(bits, ErofsConstants.ChunkBlockBitsMask);
        foreach (var run in runs)
        {
            if (run.Logical != 0)
            {
                bits = Math.Min(bits, BitOperations.TrailingZeroCount(run.Logical));
            }
            if (run.LogicalEnd != totalBlocks)
            {
                bits = Math.Min(bits, BitOperations.TrailingZeroCount(run.LogicalEnd));
            }
        }
        return bits;
    }

    /// <summary>How many chunks of 2^<paramref name="bits"/> blocks a file of <paramref name="totalBlocks"/> blocks has.</summary>
    public static long ChunkCount(long totalBlocks, int bits) => (totalBlocks + (1L << bits) - 1) >> bits;

    /// <summary>
    /// Writes the block map entries from chunk <paramref name="firstChunk"/> on into <paramref name="destination"/>
    /// (a whole number of entries); <paramref name="runIndex"/> carries the run search from call to call.
    /// </summary>
    public static void Encode(IReadOnlyList<DataRun> runs, int bits, long firstChunk, Span<byte> destination, ref int runIndex)
    {
        int count = destination.Length / ErofsConstants.BlockMapEntrySize;
        for (int i = 0; i < count; i++)
        {
            long logical = (firstChunk + i) << bits;
            while (runIndex < runs.Count && runs[runIndex].LogicalEnd <= logical)
            {
                runIndex++;
            }
            uint address = runIndex < runs.Count && runs[runIndex].Logical <= logical
                ? (uint)(runs[runIndex].Physical + (logical - runs[runIndex].Logical))
                : ErofsConstants.NullAddress;
            Put32(destination, i * ErofsConstants.BlockMapEntrySize, address);
        }
    }
}
