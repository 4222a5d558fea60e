using System.Buffers.Binary;

namespace Decant.Writers.Ext4;

/// <summary>
/// The first block of an empty JBD2 journal: a version 2 superblock (big-endian), clean (s_start 0),
/// with the CRC32C checksum feature (csum v3) as the kernel uses with metadata_csum.
/// </summary>
internal static class JournalSuperblock
{
    private const uint Magic = 0xC03B3998;
    private const uint SuperblockV2 = 4;
    private const uint IncompatCsumV3 = 0x10;
    private const byte ChecksumCrc32C = 4;

    /// <summary>The smallest journal jbd2 accepts.</summary>
    public const int MinimumBlocks = 1024;

    /// <summary>Journal sizes as mke2fs picks them for a filesystem of <paramref name="totalBlocks"/> 4 KiB blocks (0: too small for one).</summary>
    public static int DefaultBlocks(long totalBlocks) => totalBlocks switch
    {
        < 2048 => 0,
        < 32768 => MinimumBlocks,
        < 256 * 1024 => 4096,
        < 512 * 1024 => 8192,
        < 4096 * 1024 => 16384,
        < 8192 * 1024 => 32768,
        < 16384 * 1024 => 65536,
        < 32768 * 1024 => 131072,
        _ => 262144,
    };

    public static byte[] Build(int blocks, ReadOnlySpan<byte> uuid)
    {
        byte[] block = new byte[Ext4Constants.BlockSize];
        var sb = block.AsSpan();
        BinaryPrimitives.WriteUInt32BigEndian(sb[0x00..], Magic);
        BinaryPrimitives.WriteUInt32BigEndian(sb[0x04..], SuperblockV2);
        BinaryPrimitives.WriteUInt32BigEndian(sb[0x0C..], Ext4Constants.BlockSize);
        BinaryPrimitives.WriteUInt32BigEndian(sb[0x10..], (uint)blocks);
        BinaryPrimitives.WriteUInt32BigEndian(sb[0x14..], 1); // first log block
        BinaryPrimitives.WriteUInt32BigEndian(sb[0x18..], 1); // first expected commit
        BinaryPrimitives.WriteUInt32BigEndian(sb[0x28..], IncompatCsumV3);
        uuid.CopyTo(sb[0x30..]);
        BinaryPrimitives.WriteUInt32BigEndian(sb[0x40..], 1); // one user: this filesystem
        sb[0x50] = ChecksumCrc32C;
        BinaryPrimitives.WriteUInt32BigEndian(sb[0xFC..], Crc32C.Append(~0u, sb[..1024]));
        return block;
    }
}
