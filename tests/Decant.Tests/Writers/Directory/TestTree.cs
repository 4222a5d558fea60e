using Decant.Layers;
using Decant.Model;
using Decant.Tree;

namespace Decant.Tests.Writers.Directory;

/// <summary>Builds a <see cref="MergedTree"/> directly through the tree's internal API, one path at a time.</summary>
internal sealed class TestTree
{
    public TestTree(Inode? root = null)
    {
        RootNode = new TreeNode("", null, root ?? Directory(0x1ED));
        RootNode.Inode.LinkCount = 1;
        Tree = new MergedTree(RootNode);
    }

    public TreeNode RootNode { get; }

    public MergedTree Tree { get; }

    /// <summary>Adds <paramref name="inode"/> at <paramref name="path"/>; its parent must already be in the tree.</summary>
    public TreeNode Add(string path, Inode inode)
    {
        var slash = path.LastIndexOf('/');
        var parent = slash < 0 ? RootNode : Tree.Find(path[..slash]) ?? throw new InvalidOperationException($"no parent for {path}");
        var node = new TreeNode(path[(slash + 1)..], parent, inode);
        parent.SetChild(node);
        inode.LinkCount++;
        return node;
    }

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
