using Decant.Model;
using static Decant.Writers.LittleEndian;

namespace Decant.Writers.Erofs;

/// <summary>
/// One on-disk inode, compact (32 bytes) or extended (64 bytes). A compact inode has no time of its
/// own (it has the superblock's build time) and 16-bit owners, link count and a 32-bit size.
/// </summary>
internal sealed class ErofsInodeRecord
{
    public bool Extended { get; set; }
    public int Layout { get; set; }
    /// <summary><c>i_xattr_icount</c>: 0 without xattrs, else 1 + (ibody size - 12) / 4.</summary>
    public ushort XattrCount { get; set; }
    public ushort Mode { get; set; }
    public uint Links { get; set; }
    public ulong Size { get; set; }
    /// <summary>The union after the size: the first block, the device number, the chunk format or the compressed block count.</summary>
    public uint Union { get; set; }
    public uint InodeNumber { get; set; }
    public uint Uid { get; set; }
    public uint Gid { get; set; }
    public Timestamp ModificationTime { get; set; }

    public int RecordSize => Extended ? ErofsConstants.ExtendedInodeSize : ErofsConstants.CompactInodeSize;

    /// <summary>Whether a compact inode loses nothing: the build time is the inode's mtime, and every field fits.</summary>
    public static bool FitsCompact(Timestamp modificationTime, Timestamp buildTime, long uid, long gid, long links, ulong size) =>
        modificationTime == buildTime && uid is >= 0 and <= ushort.MaxValue && gid is >= 0 and <= ushort.MaxValue
        && links <= ushort.MaxValue && size <= uint.MaxValue;

    public void WriteTo(Span<byte> destination)
    {
        var b = destination[..RecordSize];
        b.Clear();
        Put16(b, 0, (Extended ? 1 : 0) | (Layout << 1));
        Put16(b, 2, XattrCount);
        Put16(b, 4, Mode);
        if (!Extended)
        {
            Put16(b, 6, (int)Links);
            Put32(b, 8, (uint)Size);
            // 12: the mtime relative to the build time: always 0, as compact inodes are used only at the build time.
            Put32(b, 16, Union);
            Put32(b, 20, InodeNumber);
            Put16(b, 24, (int)Uid);
            Put16(b, 26, (int)Gid);
            return;
        }
        Put64(b, 8, Size);
        Put32(b, 16, Union);
        Put32(b, 20, InodeNumber);
        Put32(b, 24, Uid);
        Put32(b, 28, Gid);
        Put64(b, 32, (ulong)ModificationTime.Seconds);
        Put32(b, 40, ModificationTime.Nanoseconds);
        Put32(b, 44, Links);
    }

    /// <summary>The kernel's "new" dev_t encoding in <c>i_u.rdev</c>: 12-bit major, 20-bit minor (numbers checked by the caller).</summary>
    public static uint EncodeDevice(uint major, uint minor) => (minor & 0xFF) | (major << 8) | ((minor & ~0xFFu) << 12);
}
