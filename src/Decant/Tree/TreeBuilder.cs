using Decant.Model;

namespace Decant.Tree;

/// <summary>
/// Builds a <see cref="MergedTree"/> by hand, for hosts that make filesystems from something other
/// than image layers and want a writer (ext4, tar, directory) to turn it into output. Paths are
/// '/'-separated and relative to the root; parents must be added before their children; adding
/// the same <see cref="Inode"/> at two paths makes a hardlink. Names are byte strings: pass the bytes
/// (<see cref="Add(ReadOnlySpan{byte}, Inode)"/>) or their <see cref="NameBytes"/> string form.
/// </summary>
public sealed class TreeBuilder
{
    private readonly MergedTree _tree;
    private readonly HashSet<TreeNode> _directories = new(ReferenceEqualityComparer.Instance);

    /// <param name="root">The root directory's inode; a 0755 root-owned directory when null.</param>
    public TreeBuilder(Inode? root = null)
    {
        root ??= new Inode { Kind = NodeKind.Directory, Mode = 0b111_101_101 };
        if (!root.IsDirectory)
        {
            throw new ArgumentException("the root must be a directory", nameof(root));
        }
        root.LinkCount = 1;
        _tree = new MergedTree(new TreeNode("", null, root));
    }

    /// <summary>Adds <paramref name="inode"/> at the path whose bytes are <paramref name="path"/> (any bytes but NUL).</summary>
    public TreeNode Add(ReadOnlySpan<byte> path, Inode inode) => Add(NameBytes.Decode(path), inode);

    /// <summary>Adds <paramref name="inode"/> at <paramref name="path"/>, in its <see cref="NameBytes"/> string form.</summary>
    public TreeNode Add(string path, Inode inode)
    {
        ArgumentNullException.ThrowIfNull(path);
        var parts = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0 || parts.Any(p => p is "." or ".."))
        {
            throw new DecantException(DecantErrorKind.Usage, $"\"{path}\" is not a path below the root");
        }
        var parent = _tree.Root;
        foreach (var part in parts.AsSpan(0, parts.Length - 1))
        {
            parent = parent.GetChild(part) is { Inode.IsDirectory: true } directory
                ? directory
                : throw new DecantException(DecantErrorKind.Usage, $"\"{path}\": parent \"{part}\" is not a directory added earlier");
        }
        return Attach(parent, parts[^1], inode, path);
    }

    /// <summary>
    /// Adds <paramref name="inode"/> as the child <paramref name="name"/> of a directory this builder
    /// made: one step, however deep the directory lies.
    /// </summary>
    public TreeNode Add(TreeNode parent, string name, Inode inode)
    {
        ArgumentNullException.ThrowIfNull(parent);
        ArgumentNullException.ThrowIfNull(name);
        if (!ReferenceEquals(parent, _tree.Root) && !_directories.Contains(parent))
        {
            throw new DecantException(DecantErrorKind.Usage, $"\"{name}\": the parent is not a directory of this tree");
        }
        if (name is "" or "." or ".." || name.Contains('/', StringComparison.Ordinal))
        {
            throw new DecantException(DecantErrorKind.Usage, $"\"{name}\" is not one path component");
        }
        return Attach(parent, name, inode, name);
    }

    private TreeNode Attach(TreeNode parent, string name, Inode inode, string displayPath)
    {
        ArgumentNullException.ThrowIfNull(inode);
        if (name.Contains('\0', StringComparison.Ordinal) || !NameBytes.IsLossless(name))
        {
            throw new DecantException(DecantErrorKind.Usage, $"\"{displayPath}\" is not the string form of a file name's bytes (see NameBytes)");
        }
        if (inode.IsDirectory && inode.LinkCount > 0)
        {
            throw new DecantException(DecantErrorKind.Usage, $"\"{displayPath}\": a directory cannot be hardlinked");
        }
        if (parent.GetChild(name) is not null)
        {
            throw new DecantException(DecantErrorKind.Usage, $"\"{displayPath}\" was already added");
        }
        var node = new TreeNode(name, parent, inode);
        inode.LinkCount++;
        parent.SetChild(node);
        if (inode.IsDirectory)
        {
            _directories.Add(node);
        }
        return node;
    }

    /// <summary>The finished tree.</summary>
    public MergedTree Build() => _tree;
}
