namespace Decant.Writers.Ext4;

/// <summary>The final numbers of an image, from which the superblock and its copies are written.</summary>
internal sealed record FilesystemShape
{
    public required long TotalBlocks { get; init; }
    public required long Groups { get; init; }
    public required int InodesPerGroup { get; init; }
    public required long FreeBlocks { get; init; }
    public required long FreeInodes { get; init; }
    public required byte[] Uuid { get; init; }
    public required uint[] HashSeed { get; init; }
    public required long Time { get; init; }
    public required byte[] Label { get; init; }
    /// <summary>The journal inode's i_block and size, backed up in the superblock; null without a journal.</summary>
    public (byte[] Block, ulong Size)? Journal { get; init; }
}
