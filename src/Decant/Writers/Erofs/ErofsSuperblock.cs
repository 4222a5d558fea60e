using static Decant.Writers.LittleEndian;

namespace Decant.Writers.Erofs;

/// <summary>The EROFS superblock: 128 bytes at byte 1024 of block 0, checksummed with CRC32C over the rest of that block.</summary>
internal sealed class ErofsSuperblock
{
    public uint FeatureCompat { get; init; }
    public uint FeatureIncompat { get; init; }
    public ushort RootNid { get; init; }
    public ulong InodeCount { get; init; }
    public long BuildTimeSeconds { get; init; }
    public uint BuildTimeNanoseconds { get; init; }
    public uint Blocks { get; init; }
    public uint MetaBlockAddress { get; init; }
    public uint XattrBlockAddress { get; init; }
    public required byte[] Uuid { get; init; }
    /// <summary>The compression algorithms used, a bit per algorithm (LZ4 is bit 0); 0 when nothing is compressed.</summary>
    public ushort CompressionAlgorithms { get; init; }
    /// <summary>Bytes that follow the superblock in block 0: the compression configurations (each a 2-byte length and its body).</summary>
    public byte[] Trailer { get; init; } = [];

    /// <summary>Block 0 of the image: zeros, the superblock, its trailer, and the checksum over all of it from byte 1024 on.</summary>
    public byte[] ToBlock()
    {
        var block = new byte[ErofsConstants.BlockSize];
        var sb = block.AsSpan(ErofsConstants.SuperblockOffset);
        Put32(sb, 0, ErofsConstants.Magic);
        Put32(sb, 8, FeatureCompat);
        sb[12] = ErofsConstants.BlockShift;
        Put16(sb, 14, RootNid);
        Put64(sb, 16, InodeCount);
        Put64(sb, 24, (ulong)BuildTimeSeconds);
        Put32(sb, 32, BuildTimeNanoseconds);
        Put32(sb, 36, Blocks);
        Put32(sb, 40, MetaBlockAddress);
        Put32(sb, 44, XattrBlockAddress);
        Uuid.CopyTo(sb[48..64]);
        Put32(sb, 80, FeatureIncompat);
        Put16(sb, 84, CompressionAlgorithms);
        Trailer.CopyTo(sb[ErofsConstants.SuperblockSize..]);
        Put32(sb, 4, Crc32C.Append(~0u, sb));
        return block;
    }
}
