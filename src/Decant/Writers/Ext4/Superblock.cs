using static Decant.Writers.LittleEndian;

namespace Decant.Writers.Ext4;

/// <summary>Encodes the 1024-byte ext4 superblock (and its copies, which differ only in their group number).</summary>
internal static class Superblock
{
    public const int Size = 1024;

    public static byte[] Build(FilesystemShape shape, long group)
    {
        byte[] sb = new byte[Size];
        long inodes = shape.Groups * shape.InodesPerGroup;
        Put32(sb, 0x00, (uint)inodes);
        Put32(sb, 0x04, (uint)shape.TotalBlocks);
        Put32(sb, 0x08, 0); // no blocks reserved for root
        Put32(sb, 0x0C, (uint)shape.FreeBlocks);
        Put32(sb, 0x10, (uint)shape.FreeInodes);
        Put32(sb, 0x14, 0); // first data block
        Put32(sb, 0x18, 2); // 4096-byte blocks
        Put32(sb, 0x1C, 2);
        Put32(sb, 0x20, Ext4Constants.BlocksPerGroup);
        Put32(sb, 0x24, Ext4Constants.BlocksPerGroup);
        Put32(sb, 0x28, (uint)shape.InodesPerGroup);
        Put32(sb, 0x2C, 0); // never mounted
        Put32(sb, 0x30, (uint)shape.Time);
        Put16(sb, 0x34, 0);
        Put16(sb, 0x36, 0xFFFF); // no mount-count checks
        Put16(sb, 0x38, Ext4Constants.SuperblockMagic);
        Put16(sb, 0x3A, 1); // clean
        Put16(sb, 0x3C, 1); // continue on errors
        Put32(sb, 0x40, (uint)shape.Time);
        Put32(sb, 0x4C, 1); // dynamic revision
        Put32(sb, 0x54, Ext4Constants.FirstInode);
        Put16(sb, 0x58, Ext4Constants.InodeSize);
        Put16(sb, 0x5A, (int)group);
        Put32(sb, 0x5C, Ext4Constants.CompatExtAttr | Ext4Constants.CompatDirIndex | (shape.Journal is null ? 0 : Ext4Constants.CompatHasJournal));
        Put32(sb, 0x60, Ext4Constants.IncompatFiletype | Ext4Constants.IncompatExtents | Ext4Constants.Incompat64Bit | Ext4Constants.IncompatFlexBg);
        Put32(sb, 0x64, Ext4Constants.RoCompatSparseSuper | Ext4Constants.RoCompatLargeFile | Ext4Constants.RoCompatHugeFile
            | Ext4Constants.RoCompatDirNlink | Ext4Constants.RoCompatExtraIsize | Ext4Constants.RoCompatMetadataCsum);
        shape.Uuid.CopyTo(sb, 0x68);
        shape.Label.AsSpan(0, Math.Min(16, shape.Label.Length)).CopyTo(sb.AsSpan(0x78));
        if (shape.Journal is { } journal)
        {
            Put32(sb, 0xE0, Ext4Constants.JournalInode);
            journal.Block.CopyTo(sb, 0x10C);
            Put32(sb, 0x10C + 60, (uint)(journal.Size >> 32));
            Put32(sb, 0x10C + 64, (uint)journal.Size);
            sb[0xFD] = 1; // s_jnl_blocks holds a copy of the journal's i_block
        }
        for (int i = 0; i < 4; i++)
        {
            Put32(sb, 0xEC + 4 * i, shape.HashSeed[i]);
        }
        sb[0xFC] = Ext4Constants.HashHalfMd4;
        Put16(sb, 0xFE, Ext4Constants.DescriptorSize);
        Put32(sb, 0x100, 0x000C); // default mount options: user_xattr, acl
        Put32(sb, 0x108, (uint)shape.Time);
        Put32(sb, 0x150, (uint)(shape.TotalBlocks >> 32));
        Put32(sb, 0x158, (uint)(shape.FreeBlocks >> 32));
        Put16(sb, 0x15C, Ext4Constants.ExtraInodeSize);
        Put16(sb, 0x15E, Ext4Constants.ExtraInodeSize);
        Put32(sb, 0x160, Ext4Constants.FlagUnsignedHash);
        sb[0x174] = Ext4Constants.LogGroupsPerFlex;
        sb[0x175] = 1; // crc32c
        byte timeHigh = (byte)(shape.Time >> 32);
        sb[0x274] = timeHigh; // s_wtime_hi
        sb[0x276] = timeHigh; // s_mkfs_time_hi
        sb[0x277] = timeHigh; // s_lastcheck_hi
        Put32(sb, 0x3FC, Crc32C.Append(~0u, sb.AsSpan(0, 0x3FC)));
        return sb;
    }
}
