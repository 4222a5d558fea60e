using Decant.Model;
using Decant.Tree;

namespace Decant.Tests.Writers.Directory;

/// <summary>Inodes of each kind for trees built with <see cref="TreeBuilder"/>, each kind with its own distinct times.</summary>
internal static class TestInodes
{
    public static Timestamp Time(long seconds, uint nanoseconds = 0) => new(seconds, nanoseconds);

    public static Inode Directory(uint mode, long uid = 0, long gid = 0) => new()
    {
        Kind = NodeKind.Directory, Mode = mode, Uid = uid, Gid = gid,
        ModificationTime = Time(1_600_000_000, 111), AccessTime = Time(1_600_000_001, 222),
    };

    public static Inode File(ContentRef? content, uint mode, long uid = 0, long gid = 0) => new()
    {
        Kind = NodeKind.RegularFile, Mode = mode, Uid = uid, Gid = gid, Content = content,
        ModificationTime = Time(1_500_000_000, 123_456_789), AccessTime = Time(1_500_000_500, 987_654_321),
    };

    public static Inode Symlink(string target, long uid = 0, long gid = 0) => new()
    {
        Kind = NodeKind.Symlink, Mode = 0x1FF, Uid = uid, Gid = gid, SymlinkTarget = target,
        ModificationTime = Time(1_400_000_000, 5), AccessTime = Time(1_400_000_001, 6),
    };

    public static Inode Special(NodeKind kind, uint mode, uint major = 0, uint minor = 0, long uid = 0, long gid = 0) => new()
    {
        Kind = kind, Mode = mode, Uid = uid, Gid = gid, DeviceMajor = major, DeviceMinor = minor,
        ModificationTime = Time(1_300_000_000, 7), AccessTime = Time(1_300_000_001, 8),
    };
}
