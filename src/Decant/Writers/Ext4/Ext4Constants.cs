namespace Decant.Writers.Ext4;

/// <summary>The fixed geometry and on-disk constants of the images this writer produces.</summary>
internal static class Ext4Constants
{
    public const int BlockSize = 4096;
    public const int BlockShift = 12;
    public const int BlocksPerGroup = 32768;
    public const int InodeSize = 256;
    public const int InodesPerBlock = BlockSize / InodeSize;
    public const int DescriptorSize = 64;
    public const int DescriptorsPerBlock = BlockSize / DescriptorSize;
    public const int ExtraInodeSize = 32;
    public const int FirstInode = 11;
    public const uint RootInode = 2;
    public const uint JournalInode = 8;
    public const int MaxExtentLength = 32768;
    public const int MaxNameLength = 255;
    public const int MaxLinks = 65000;
    public const int LogGroupsPerFlex = 4;

    /// <summary>Extents of a file kept in its inode (60 bytes of i_block: a header and four entries).</summary>
    public const int ExtentsInInode = 4;
    /// <summary>Entries in an extent tree block: the 12-byte header, then 12-byte entries, then the 4-byte checksum tail.</summary>
    public const int ExtentsPerBlock = (BlockSize - 12) / 12;

    /// <summary>A symlink target shorter than this is kept in i_block (a "fast" symlink).</summary>
    public const int FastSymlinkLimit = 60;

    public const ushort SuperblockMagic = 0xEF53;
    public const ushort ExtentMagic = 0xF30A;
    public const uint XattrMagic = 0xEA020000;

    // Mode type bits.
    public const ushort ModeFifo = 0x1000, ModeCharDevice = 0x2000, ModeDirectory = 0x4000,
        ModeBlockDevice = 0x6000, ModeRegular = 0x8000, ModeSymlink = 0xA000;

    // Directory entry file types (filetype feature).
    public const byte TypeRegular = 1, TypeDirectory = 2, TypeCharDevice = 3, TypeBlockDevice = 4,
        TypeFifo = 5, TypeSymlink = 7;

    // Inode flags.
    public const uint FlagIndex = 0x1000, FlagExtents = 0x80000;

    // Feature flags.
    public const uint CompatHasJournal = 0x4, CompatExtAttr = 0x8, CompatDirIndex = 0x20;
    public const uint IncompatFiletype = 0x2, IncompatExtents = 0x40, Incompat64Bit = 0x80, IncompatFlexBg = 0x200;
    public const uint RoCompatSparseSuper = 0x1, RoCompatLargeFile = 0x2, RoCompatHugeFile = 0x8,
        RoCompatDirNlink = 0x20, RoCompatExtraIsize = 0x40, RoCompatMetadataCsum = 0x400;

    /// <summary>Group descriptor flag: the inode table is zeroed.</summary>
    public const ushort GroupInodeTableZeroed = 0x4;

    /// <summary>Directory hash: half MD4, read unsigned (the superblock's unsigned-hash flag).</summary>
    public const byte HashHalfMd4 = 1;
    public const uint FlagUnsignedHash = 0x2;
}
