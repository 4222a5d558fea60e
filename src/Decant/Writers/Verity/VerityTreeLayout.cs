namespace Decant.Writers.Verity;

/// <summary>
/// Where each level of a dm-verity hash tree goes, as the kernel and <c>veritysetup</c> lay it out:
/// level 0 hashes the data blocks, each level above hashes the blocks of the one below, until one
/// block holds a level; the levels are stored top first (the one-block level, then downwards, level
/// 0 last). With a single data block there is no level: the root hash is that block's hash.
/// </summary>
internal sealed class VerityTreeLayout
{
    private readonly long[] _start;
    private readonly long[] _blocks;

    private VerityTreeLayout(long[] start, long[] blocks)
    {
        _start = start;
        _blocks = blocks;
    }

    /// <summary>The layout of the tree over <paramref name="dataBlocks"/> blocks with <paramref name="hashesPerBlock"/> digests in a hash block (a power of two).</summary>
    public static VerityTreeLayout For(long dataBlocks, int hashesPerBlock)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(dataBlocks, 1);
        int bits = System.Numerics.BitOperations.Log2((uint)hashesPerBlock);
        int levels = 0;
        while (bits * levels < 64 && ((ulong)(dataBlocks - 1) >> (bits * levels)) != 0)
        {
            levels++;
        }
        var start = new long[levels];
        var blocks = new long[levels];
        long position = 0;
        for (int level = levels - 1; level >= 0; level--)
        {
            int shift = (level + 1) * bits;
            blocks[level] = shift >= 63 ? 1 : (long)(((ulong)dataBlocks + (1UL << shift) - 1) >> shift);
            start[level] = position;
            position += blocks[level];
        }
        return new VerityTreeLayout(start, blocks) { TotalBlocks = position };
    }

    /// <summary>How many levels the tree has (0 for a single data block).</summary>
    public int Levels => _start.Length;

    /// <summary>The hash blocks of every level together.</summary>
    public long TotalBlocks { get; private init; }

    /// <summary>The first hash block of <paramref name="level"/>, counted from the start of the tree.</summary>
    public long StartOf(int level) => _start[level];

    /// <summary>How many hash blocks <paramref name="level"/> has.</summary>
    public long BlocksOf(int level) => _blocks[level];
}
