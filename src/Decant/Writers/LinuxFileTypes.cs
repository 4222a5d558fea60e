using Decant.Tree;

namespace Decant.Writers;

/// <summary>
/// The Linux numbers for a node's type that filesystem images store: the type bits of
/// <c>i_mode</c> (S_IF*) and the directory entry file type (the generic FT_* numbers, which ext4
/// and EROFS share).
/// </summary>
internal static class LinuxFileTypes
{
    /// <summary>The S_IF* bits of <paramref name="kind"/>.</summary>
    public static int ModeBits(NodeKind kind) => kind switch
    {
        NodeKind.RegularFile => 0x8000,
        NodeKind.Directory => 0x4000,
        NodeKind.Symlink => 0xA000,
        NodeKind.CharDevice => 0x2000,
        NodeKind.BlockDevice => 0x6000,
        NodeKind.Fifo => 0x1000,
        _ => throw new InvalidOperationException($"unexpected node kind {kind}"),
    };

    /// <summary>The directory entry file type of <paramref name="kind"/>.</summary>
    public static byte DirentType(NodeKind kind) => kind switch
    {
        NodeKind.RegularFile => 1,
        NodeKind.Directory => 2,
        NodeKind.CharDevice => 3,
        NodeKind.BlockDevice => 4,
        NodeKind.Fifo => 5,
        NodeKind.Symlink => 7,
        _ => throw new InvalidOperationException($"unexpected node kind {kind}"),
    };
}
