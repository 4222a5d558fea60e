using System.Runtime.CompilerServices;
using Decant.Model;
using static Decant.Writers.LittleEndian;

namespace Decant.Writers.Ext4;

/// <summary>Everything the inode table needs about one inode, gathered while the metadata is laid out.</summary>
internal sealed class InodeRecord
{
    public ushort Mode { get; init; }
    public long Uid { get; init; }
    public long Gid { get; init; }
    public Timestamp ModificationTime { get; init; }
    public Timestamp AccessTime { get; init; }
    public ulong Size { get; set; }
    public int Links { get; set; }
    public uint Flags { get; set; }
    /// <summary>The 60 bytes of i_block: extent root, fast symlink target or device number.</summary>
    private BlockArea _block;

    public Span<byte> Block => _block;
    /// <summary>Blocks of 4 KiB this inode owns (data, extent tree, xattr block).</summary>
    public long BlockCount { get; set; }
    public long XattrBlock { get; set; }
    public IReadOnlyList<Ext4Xattr> InlineXattrs { get; set; } = [];
    public bool IsDirectory => (Mode & 0xF000) == Ext4Constants.ModeDirectory;

    /// <summary>Encodes the 256-byte on-disk inode with its checksum.</summary>
    public void Encode(Span<byte> inode, uint number, uint filesystemSeed)
    {
        inode[..Ext4Constants.InodeSize].Clear();
        uint uid = CheckedId(Uid, "uid", number);
        uint gid = CheckedId(Gid, "gid", number);
        Put16(inode, 0x00, Mode);
        Put16(inode, 0x02, (int)(uid & 0xFFFF));
        Put32(inode, 0x04, (uint)Size);
        var (atime, atimeExtra) = EncodeTime(AccessTime);
        var (mtime, mtimeExtra) = EncodeTime(ModificationTime);
        Put32(inode, 0x08, atime);
        Put32(inode, 0x0C, mtime); // ctime: the tree has none, so it is the mtime
        Put32(inode, 0x10, mtime);
        Put16(inode, 0x18, (int)(gid & 0xFFFF));
        Put16(inode, 0x1A, Links);
        long sectors = BlockCount * (Ext4Constants.BlockSize / 512);
        Put32(inode, 0x1C, (uint)sectors);
        Put32(inode, 0x20, Flags);
        Block.CopyTo(inode[0x28..]);
        Put32(inode, 0x68, (uint)XattrBlock);
        Put32(inode, 0x6C, (uint)(Size >> 32));
        Put16(inode, 0x74, (int)(sectors >> 32));
        Put16(inode, 0x76, (int)(XattrBlock >> 32));
        Put16(inode, 0x78, (int)(uid >> 16));
        Put16(inode, 0x7A, (int)(gid >> 16));
        Put16(inode, 0x80, Ext4Constants.ExtraInodeSize);
        Put32(inode, 0x84, mtimeExtra);
        Put32(inode, 0x88, mtimeExtra);
        Put32(inode, 0x8C, atimeExtra);
        Put32(inode, 0x90, mtime); // crtime
        Put32(inode, 0x94, mtimeExtra);
        XattrLayout.WriteInline(inode.Slice(128 + Ext4Constants.ExtraInodeSize, XattrLayout.InodeSpace), InlineXattrs);
        uint crc = Crc32C.Append(Crc32C.InodeSeed(filesystemSeed, number), inode[..Ext4Constants.InodeSize]);
        Put16(inode, 0x7C, (int)(crc & 0xFFFF));
        Put16(inode, 0x82, (int)(crc >> 16));
    }

    /// <summary>Seconds as ext4 keeps them: the low 32 bits, plus two epoch bits and the nanoseconds in the extra field.</summary>
    public static (uint Seconds, uint Extra) EncodeTime(Timestamp time)
    {
        const long Min = int.MinValue;
        const long Max = (1L << 34) + int.MinValue - 1;
        long seconds = Math.Clamp(time.Seconds, Min, Max);
        uint nanoseconds = seconds == time.Seconds ? Math.Min(time.Nanoseconds, 999_999_999u) : 0;
        uint epoch = (uint)((seconds - (int)seconds) >> 32) & 3;
        return ((uint)seconds, epoch | (nanoseconds << 2));
    }

    private static uint CheckedId(long id, string what, uint number) =>
        id is >= 0 and <= uint.MaxValue
            ? (uint)id
            : throw new DecantException(DecantErrorKind.OutputError, $"inode {number}: {what} {id} does not fit ext4's 32 bits");
}

/// <summary>The 60 bytes of <c>i_block</c>, held in the record itself (not a 60-byte array per inode beside it).</summary>
[InlineArray(60)]
internal struct BlockArea
{
    private byte _first;
}
