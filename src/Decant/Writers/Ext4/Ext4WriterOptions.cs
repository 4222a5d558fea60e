using Decant.Writers.Verity;

namespace Decant.Writers.Ext4;

/// <summary>How <see cref="Ext4Writer"/> writes an ext4 filesystem image to the file <see cref="WriterOptions.Output"/>.</summary>
public sealed record Ext4WriterOptions : WriterOptions
{
    /// <summary>
    /// A fixed image size in bytes (rounded down to whole 4 KiB blocks). Null means the smallest image
    /// that holds the tree plus <see cref="FreeSpaceBytes"/> and <see cref="FreeInodes"/>.
    /// </summary>
    public long? Size { get; init; }

    /// <summary>Free space the filesystem keeps beyond what the tree needs (ignored with a fixed <see cref="Size"/>).</summary>
    public long FreeSpaceBytes { get; init; } = DefaultFreeSpaceBytes;

    /// <summary>Free inodes beyond those the tree uses.</summary>
    public long FreeInodes { get; init; } = DefaultFreeInodes;

    /// <summary>Write a JBD2 journal (inode 8), as <c>mke2fs -t ext4</c> does.</summary>
    public bool Journal { get; init; } = true;

    /// <summary>
    /// Bytes the filesystem UUID and directory hash seed are derived from (e.g. the image's manifest
    /// digest), so the same input always gives the same image. Empty means a fixed default.
    /// </summary>
    public IReadOnlyList<byte> Seed { get; init; } = [];

    /// <summary>The volume label (at most 16 bytes of UTF-8).</summary>
    public string Label { get; init; } = "";

    /// <summary>
    /// Append a dm-verity hash tree after the filesystem (at its size, a whole number of 4096-byte
    /// blocks), as <c>veritysetup format</c> writes it; <see cref="WriteSummary.Verity"/> gives the
    /// root hash and offset. Null (the default) writes none.
    /// </summary>
    public VerityOptions? Verity { get; init; }

    /// <summary>The default <see cref="FreeSpaceBytes"/>: 64 MiB (the CLI's <c>--free-space</c>).</summary>
    public const long DefaultFreeSpaceBytes = 64L << 20;
    /// <summary>The default <see cref="FreeInodes"/>: 8192 (the CLI's <c>--free-inodes</c>).</summary>
    public const long DefaultFreeInodes = 8192;
}
