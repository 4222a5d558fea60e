namespace Decant.Writers.Erofs;

/// <summary>The numbers of the EROFS on-disk format (the kernel's <c>fs/erofs/erofs_fs.h</c>) that this writer uses.</summary>
internal static class ErofsConstants
{
    public const int BlockSize = 4096;
    public const int BlockShift = 12;
    public const int SuperblockOffset = 1024;
    public const int SuperblockSize = 128;
    public const uint Magic = 0xE0F5E1E2;

    /// <summary>The superblock carries a CRC32C of its block from the superblock on.</summary>
    public const uint CompatSuperblockChecksum = 0x1;
    /// <summary>Inodes carry their own modification times (set by mkfs.erofs 1.5 too).</summary>
    public const uint CompatMtime = 0x2;

    /// <summary>Compressed data is padded with zeros at the front of its physical cluster (lz4_0padding).</summary>
    public const uint IncompatZeroPadding = 0x1;
    /// <summary>The superblock is followed by compression configurations, and physical clusters may be more than one block.</summary>
    public const uint IncompatCompressionConfigs = 0x2;
    /// <summary>Some file is chunk-based (layout 4).</summary>
    public const uint IncompatChunkedFile = 0x4;

    /// <summary>Contiguous blocks from <c>raw_blkaddr</c>, no inline tail.</summary>
    public const int LayoutFlatPlain = 0;
    /// <summary>Compressed with full (8-byte) logical cluster indexes.</summary>
    public const int LayoutCompressedFull = 1;
    /// <summary>Contiguous blocks, and the last partial block inline after the inode and its xattrs.</summary>
    public const int LayoutFlatInline = 2;
    /// <summary>Fixed-size chunks, each a block address or a hole (a 4-byte block map after the inode).</summary>
    public const int LayoutChunkBased = 4;

    public const int CompactInodeSize = 32;
    public const int ExtendedInodeSize = 64;
    /// <summary>The unit of node numbers: a nid is the offset of its inode in the metadata area divided by this.</summary>
    public const int NidUnit = 32;

    public const int ChunkBlockBitsMask = 0x1F;
    /// <summary>A chunk that is a hole.</summary>
    public const uint NullAddress = 0xFFFFFFFF;
    public const int BlockMapEntrySize = 4;

    public const int DirentSize = 12;
    public const int MaxNameLength = 255;

    public const int XattrIbodyHeaderSize = 12;
    public const int XattrEntryHeaderSize = 4;
    /// <summary>At most this many shared xattrs per inode (<c>h_shared_count</c> is one byte).</summary>
    public const int MaxSharedXattrs = 255;
}
