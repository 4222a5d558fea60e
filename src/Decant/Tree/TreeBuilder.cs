using Decant.Errors;
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
        ArgumentNullException.ThrowIfNull(inode);
        if (path.Contains('\0', StringComparison.Ordinal) || !NameBytes.IsLossless(path))
        {
            throw new DecantException(DecantErrorKind.Usage, $"\"{path}\" is not the string form of a file name's bytes (see NameBytes)");
        }
        var parts = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0 || parts.Any(p => p is "." or ".."))
        {
            throw new DecantException(DecantErrorKind.Usage, $"\"{path}\" is not a path below the root");
        }
        if (inode.IsDirectory && inode.LinkCount > 0)
        {
            throw new DecantException(DecantErrorKind.Usage, $"\"{path}\": a directory cannot be hardlinked");
        }
        var parent = _tree.Root;
        foreach (var part in parts.AsSpan(0, parts.Length - 1))
        {
            parent = parent.GetChild(part) is { Inode.IsDirectory: true } directory
                ? directory
                : throw new DecantException(DecantErrorKind.Usage, $"\"{path}\": parent \"{part}\" is not a directory added earlier");
        }
        if (parent.GetChild(parts[^1]) is not null)
        {
            throw new DecantException(DecantErrorKind.Usage, $"\"{path}\" was already added");
        }
        var node = new TreeNode(parts[^1], parent, inode);
        inode.LinkCount++;
        parent.SetChild(node);
        return node;
    }

    /// <summary>The finished tree.</summary>
    public MergedTree Build() => _tree;
}
