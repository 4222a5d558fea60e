using K4os.Compression.LZ4;

namespace Decant.Writers.Erofs;

/// <summary>
/// Compresses one physical cluster's worth of a file with LZ4 (a raw LZ4 block, as the kernel's
/// decompressor reads it), into at most the room given: a cluster that does not shrink by a whole
/// block is left to be stored as it is.
/// </summary>
internal sealed class ErofsCompressor(ErofsCompression compression, int clusterSize)
{
    private readonly LZ4Level _level = compression == ErofsCompression.Lz4HC ? LZ4Level.L09_HC : LZ4Level.L00_FAST;

    /// <summary>The uncompressed bytes compressed together (a whole number of blocks).</summary>
    public int ClusterSize { get; } = clusterSize;

    /// <summary>The cluster's blocks (logical clusters of one block each).</summary>
    public int ClusterBlocks => ClusterSize >> ErofsConstants.BlockShift;

    /// <summary>Compresses <paramref name="source"/> into <paramref name="target"/>; the length written, or 0 when it does not fit.</summary>
    public int Compress(ReadOnlySpan<byte> source, Span<byte> target)
    {
        int written = LZ4Codec.Encode(source, target, _level);
        return written > 0 ? written : 0;
    }
}
