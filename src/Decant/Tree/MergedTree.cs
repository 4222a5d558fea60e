using Decant.Model;

namespace Decant.Tree;

/// <summary>The types of filesystem objects in a merged tree.</summary>
public enum NodeKind
{
    /// <summary>A regular file; its bytes are in <see cref="Inode.Content"/>. Hardlinks are not a kind: linked paths share one inode.</summary>
    RegularFile,
    /// <summary>A directory; its entries are the children of its node (<see cref="TreeNode.GetChild"/>, <see cref="MergedTree.Walk"/>).</summary>
    Directory,
    /// <summary>A symbolic link; <see cref="Inode.SymlinkTarget"/> holds its target.</summary>
    Symlink,
    /// <summary>A character device, numbered by <see cref="Inode.DeviceMajor"/> and <see cref="Inode.DeviceMinor"/>.</summary>
    CharDevice,
    /// <summary>A block device, numbered by <see cref="Inode.DeviceMajor"/> and <see cref="Inode.DeviceMinor"/>.</summary>
    BlockDevice,
    /// <summary>A named pipe.</summary>
    Fifo,
}

/// <summary>
/// One filesystem object: its type, metadata and content. Hardlinked paths share one inode, so
/// <see cref="LinkCount"/> counts the tree paths that lead to it.
/// </summary>
public sealed class Inode
{
    /// <summary>What the object is; fixed for the inode's lifetime (a layer that changes the type replaces the inode).</summary>
    public required NodeKind Kind { get; init; }
    /// <summary>Permission bits plus setuid, setgid and sticky.</summary>
    public uint Mode { get; set; }
    /// <summary>The owner's numeric user id as the layer gave it; the directory writer, when rootless, records it in <c>user.rootlesscontainers</c> instead of applying it.</summary>
    public long Uid { get; set; }
    /// <summary>The owner's numeric group id as the layer gave it; the directory writer, when rootless, records it in <c>user.rootlesscontainers</c> instead of applying it.</summary>
    public long Gid { get; set; }
    /// <summary>The modification time from the layer entry (for an implicit directory, that of the entry that caused it).</summary>
    public Timestamp ModificationTime { get; set; }
    /// <summary>The access time: the layer's atime when it has one, else <see cref="ModificationTime"/>. The tar writer does not write it.</summary>
    public Timestamp AccessTime { get; set; }
    /// <summary>For a symlink, its target exactly as the layer gave it.</summary>
    public string? SymlinkTarget { get; init; }
    /// <summary>The device's major number; 0 unless <see cref="Kind"/> is a character or block device.</summary>
    public uint DeviceMajor { get; init; }
    /// <summary>The device's minor number; 0 unless <see cref="Kind"/> is a character or block device.</summary>
    public uint DeviceMinor { get; init; }
    /// <summary>Extended attributes, already filtered by the xattr policy, in a stable order.</summary>
    public IReadOnlyList<KeyValuePair<string, byte[]>> Xattrs { get; set; } = [];
    /// <summary>For a regular file, where its bytes are.</summary>
    public ContentRef? Content { get; init; }
    /// <summary>For a regular file, its size in bytes; otherwise 0.</summary>
    public long Size => Content?.Size ?? 0;
    /// <summary>How many paths in the tree lead to this inode.</summary>
    public int LinkCount { get; internal set; }

    /// <summary>
    /// The number the image writer committing the tree (one writer at a time) gives this inode in its walk,
    /// so that a writer needs no map from inodes to what it lays out for them; -1 until one sets it.
    /// </summary>
    internal int WalkOrdinal { get; set; } = -1;

    /// <summary>Whether <see cref="Kind"/> is <see cref="NodeKind.Directory"/>.</summary>
    public bool IsDirectory => Kind == NodeKind.Directory;
}

/// <summary>One name in the tree. Directories hold their children; every node points to an inode.</summary>
public sealed class TreeNode
{
    private Dictionary<string, TreeNode>? _children;

    internal TreeNode(string name, TreeNode? parent, Inode inode)
    {
        Name = name;
        Parent = parent;
        Inode = inode;
        Depth = parent is null ? 0 : parent.Depth + 1;
    }

    /// <summary>How many directories lie between this node and the root (0 for the root, 1 for its children).</summary>
    public int Depth { get; }

    /// <summary>The last path component; empty for the root.</summary>
    public string Name { get; }
    /// <summary>The directory that holds this name; null only for the root.</summary>
    public TreeNode? Parent { get; internal set; }
    /// <summary>The object this name leads to; hardlinked names share one instance.</summary>
    public Inode Inode { get; internal set; }

    /// <summary>The path relative to the root, '/'-separated, without a leading slash; "" for the root.
    /// Built by climbing to the root in a loop: a tree may be far deeper than the stack.</summary>
    public string Path
    {
        get
        {
            if (Parent is null)
            {
                return "";
            }
            var names = new List<string>();
            for (var node = this; node.Parent is not null; node = node.Parent)
            {
                names.Add(node.Name);
            }
            names.Reverse();
            return string.Join('/', names);
        }
    }

    /// <summary>The number of entries in this directory (0 for anything that is not one), without sorting them.</summary>
    public int ChildCount => _children?.Count ?? 0;


    /// <summary>The child called <paramref name="name"/> (one path component, matched by exact bytes), or null when there is none.</summary>
    public TreeNode? GetChild(string name) => _children is not null && _children.TryGetValue(name, out var child) ? child : null;

    internal void SetChild(TreeNode child) => (_children ??= new Dictionary<string, TreeNode>(StringComparer.Ordinal))[child.Name] = child;

    internal bool RemoveChild(string name) => _children?.Remove(name) ?? false;

    internal IEnumerable<TreeNode> UnorderedChildren => _children is null ? [] : _children.Values;
}

/// <summary>
/// The image's filesystem after every layer has been applied: the one model every writer consumes.
/// Built by <c>Semantics.LayerApplier</c>, which is the only place that knows the layer rules.
/// </summary>
public sealed class MergedTree
{
    internal MergedTree(TreeNode root)
    {
        Root = root;
    }

    /// <summary>The root directory: its <see cref="TreeNode.Name"/> is empty and its <see cref="TreeNode.Parent"/> null.</summary>
    public TreeNode Root { get; }

    /// <summary>Every node, parents before children, siblings in byte order.</summary>
    public IEnumerable<TreeNode> Walk()
    {
        foreach (var step in WalkSteps(withPaths: false))
        {
            yield return step.Node;
        }
    }

    /// <summary>
    /// Every node with its path ("" for the root), parents before children, siblings in byte
    /// order. Paths are built once per node, not by climbing to the root each time.
    /// </summary>
    public IEnumerable<(TreeNode Node, string Path)> WalkWithPaths()
    {
        foreach (var step in WalkSteps(withPaths: true))
        {
            yield return (step.Node, step.Path!);
        }
    }

    /// <summary>
    /// The one walk of the tree: every node, parents before children, siblings in byte order, each
    /// with its path when <paramref name="withPaths"/> (built once per node) and, for a further
    /// path to an inode already met (a hardlink), the inode's first path in this order. Every writer
    /// asks this walk which path of an inode comes first; only inodes with more than one path are
    /// remembered.
    /// </summary>
    internal IEnumerable<TreeStep> WalkSteps(bool withPaths)
    {
        var stack = new Stack<(TreeNode Node, string? Path)>();
        var siblings = new List<TreeNode>();
        Dictionary<Inode, (TreeNode Node, string? Path)>? firstPaths = null;
        stack.Push((Root, withPaths ? "" : null));
        while (stack.Count > 0)
        {
            var (node, path) = stack.Pop();
            (TreeNode? Node, string? Path) first = default;
            if (node.Inode.LinkCount > 1)
            {
                firstPaths ??= new Dictionary<Inode, (TreeNode Node, string? Path)>(ReferenceEqualityComparer.Instance);
                if (firstPaths.TryGetValue(node.Inode, out var earlier))
                {
                    first = earlier;
                }
                else
                {
                    firstPaths.Add(node.Inode, (node, path));
                }
            }
            yield return new TreeStep(node, path, first.Node, first.Path);
            if (node.ChildCount == 0)
            {
                continue;
            }
            siblings.Clear();
            siblings.AddRange(node.UnorderedChildren);
            siblings.Sort(static (a, b) => NameBytes.Compare(a.Name, b.Name));
            string? prefix = path is null ? null : path.Length == 0 ? "" : path + "/";
            for (int i = siblings.Count - 1; i >= 0; i--)
            {
                stack.Push((siblings[i], prefix is null ? null : prefix + siblings[i].Name));
            }
        }
    }
}

/// <summary>
/// One node of <see cref="MergedTree.WalkSteps"/>: the node, its path when the walk builds paths,
/// and whether it is the first path of its inode in walk order (the one a writer writes the inode
/// at; every further path is a hardlink to it).
/// </summary>
internal readonly struct TreeStep
{
    internal TreeStep(TreeNode node, string? path, TreeNode? firstNode, string? firstPath)
    {
        Node = node;
        Path = path;
        FirstNode = firstNode;
        FirstPath = firstPath;
    }

    /// <summary>The node.</summary>
    public TreeNode Node { get; }

    /// <summary>The node's path ("" for the root) when the walk builds paths; otherwise null.</summary>
    public string? Path { get; }

    /// <summary>For a further path to an inode (a hardlink), the node of the inode's first path; null when this is the first or only one.</summary>
    public TreeNode? FirstNode { get; }

    /// <summary>The path of <see cref="FirstNode"/> when the walk builds paths; otherwise null.</summary>
    public string? FirstPath { get; }

    /// <summary>Whether this is the first path of its inode in walk order (always, for an inode with one path).</summary>
    public bool IsFirstPathOfInode => FirstNode is null;
}
