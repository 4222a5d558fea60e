using Decant.Layers;
using Decant.Model;
using Decant.Tree;

namespace Decant.Semantics;

/// <summary>
/// THE layer rules, in one place. Applies layers bottom-up onto a <see cref="MergedTree"/> of
/// metadata, following the OCI image spec (layer.md). Where established implementations disagree,
/// Decant decides:
/// <list type="number">
/// <item>A layer's whiteouts (opaque first, then plain) apply before any of its other entries, wherever
/// they stand in the tar, and hide only lower layers: <c>foo</c> and <c>.wh.foo</c> in one layer keep <c>foo</c>.</item>
/// <item>The same path twice in one layer: the last entry wins.</item>
/// <item>An opaque whiteout keeps everything its own layer adds.</item>
/// <item>An entry under a path held as a non-directory replaces that path with a directory; a symlink
/// on the way is followed, but only inside the root (absolute targets start at the root, ".." stops there).</item>
/// <item>A hardlink's target is looked up after the layer's whiteouts; a missing target, or a directory, is an error.</item>
/// <item>Anything replacing anything else removes the old one first; a directory over a directory updates metadata only.</item>
/// </list>
/// Whiteouts never follow symlinks: a whiteout beneath a symlink or a file hides nothing.
/// </summary>
internal sealed class LayerApplier
{
    private const int MaxSymlinkHops = 40;

    /// <summary>
    /// How deep the tree may go. Real images stay below a hundred levels; a layer that nests further
    /// is refused, because every path below that depth costs its whole length again in every writer
    /// (a flattened tar of a chain N deep holds N²/2 bytes of names) and no tool can name such paths.
    /// </summary>
    public const int MaxDepth = 1024;
    private const uint ImplicitDirectoryMode = 0b111_101_101; // 0755

    private readonly IContentStore _store;
    private readonly XattrPolicy _xattrs;
    private readonly List<ContentRef> _unused = [];

    /// <summary>Starts an empty tree: an implicit root directory (mode 0755) whose metadata a layer's own root entry (<c>./</c>) replaces.</summary>
    /// <param name="store">The content store the layers were read into; content a later layer replaces is released back to it.</param>
    /// <param name="xattrs">Which extended attributes from the layers are kept.</param>
    public LayerApplier(IContentStore store, XattrPolicy xattrs)
    {
        _store = store;
        _xattrs = xattrs;
        var rootInode = new Inode { Kind = NodeKind.Directory, Mode = ImplicitDirectoryMode, LinkCount = 1 };
        Tree = new MergedTree(new TreeNode("", null, rootInode));
    }

    /// <summary>The tree as it stands after the layers applied so far.</summary>
    public MergedTree Tree { get; }

    /// <summary>Applies one layer on top of those applied before it.</summary>
    public async ValueTask ApplyAsync(LayerIndex layer, CancellationToken cancellationToken)
    {
        try
        {
            var kinds = ClassifyEntries(layer.Entries, cancellationToken);
            ApplyWhiteouts(layer, kinds, Whiteout.Kind.Opaque);
            ApplyWhiteouts(layer, kinds, Whiteout.Kind.Plain);
            for (int i = 0; i < layer.Entries.Count; i++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                ApplyEntry(layer.Entries[i], kinds[i]);
            }
        }
        catch (DecantException error)
        {
            throw error.InLayer(layer.Digest);
        }
        finally
        {
            foreach (var content in _unused)
            {
                await _store.ReleaseAsync(content, cancellationToken).ConfigureAwait(false);
            }
            _unused.Clear();
        }
    }

    /// <summary>
    /// Checks every entry's name (refusing escapes and invalid whiteouts) and says what kind of
    /// whiteout each is, before anything of the layer is applied: a bad name anywhere in a layer
    /// leaves the tree as the layers below made it.
    /// </summary>
    private static Whiteout.Kind[] ClassifyEntries(IReadOnlyList<IndexedEntry> entries, CancellationToken cancellationToken)
    {
        var kinds = new Whiteout.Kind[entries.Count];
        for (int i = 0; i < kinds.Length; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var header = entries[i].Header;
            var path = LayerPath.Clean(header.Name);
            if (path.Length == 0)
            {
                continue;
            }
            var kind = Whiteout.Classify(path[^1], header.Name, out _);
            kinds[i] = kind == Whiteout.Kind.None && Whiteout.IsUnderMetadata(path) ? Whiteout.Kind.Meta : kind;
        }
        return kinds;
    }

    private void ApplyWhiteouts(LayerIndex layer, Whiteout.Kind[] kinds, Whiteout.Kind kind)
    {
        for (int i = 0; i < kinds.Length; i++)
        {
            if (kinds[i] != kind)
            {
                continue;
            }
            var path = LayerPath.Clean(layer.Entries[i].Header.Name);
            string hidden = path[^1][Whiteout.Prefix.Length..];
            // A whiteout's directory is looked up without following symlinks: beneath a symlink or a file it hides nothing.
            var directory = LookupWithoutFollowing(path.AsSpan(0, path.Length - 1));
            if (directory is null || !directory.Inode.IsDirectory)
            {
                continue;
            }
            if (kind == Whiteout.Kind.Opaque)
            {
                foreach (var child in directory.UnorderedChildren.ToList())
                {
                    Remove(child);
                }
            }
            else if (directory.GetChild(hidden) is { } victim)
            {
                Remove(victim);
            }
        }
    }

    private void ApplyEntry(IndexedEntry entry, Whiteout.Kind whiteout)
    {
        if (whiteout != Whiteout.Kind.None)
        {
            Discard(entry.Content);
            return;
        }
        var header = entry.Header;
        var path = LayerPath.Clean(header.Name);
        if (path.Length == 0)
        {
            if (header.Kind != TarEntryKind.Directory)
            {
                Discard(entry.Content);
                throw new DecantException(DecantErrorKind.UnsafeLayer, $"the image root must be a directory, but this entry makes it a {Describe(header.Kind)}") { Entry = header.Name };
            }
            UpdateDirectory(Tree.Root, header);
            return;
        }

        var parent = ResolveParentForWrite(path, header);
        string name = path[^1];
        var existing = parent.GetChild(name);

        if (header.Kind == TarEntryKind.Directory && existing is not null && existing.Inode.IsDirectory)
        {
            UpdateDirectory(existing, header);
            return;
        }

        Inode inode;
        if (header.Kind == TarEntryKind.Hardlink)
        {
            var target = ResolveHardlinkTarget(header);
            if (ReferenceEquals(target, existing))
            {
                return;
            }
            inode = target.Inode;
        }
        else
        {
            inode = CreateInode(entry);
        }
        // Hold the inode while the old path goes: a hardlink may replace a directory that holds its own target.
        inode.LinkCount++;
        if (existing is not null)
        {
            Remove(existing);
        }
        Attach(parent, name, inode, header);
        inode.LinkCount--;
    }

    private Inode CreateInode(IndexedEntry entry)
    {
        var header = entry.Header;
        var kind = header.Kind switch
        {
            TarEntryKind.RegularFile => NodeKind.RegularFile,
            TarEntryKind.Directory => NodeKind.Directory,
            TarEntryKind.Symlink => NodeKind.Symlink,
            TarEntryKind.CharDevice => NodeKind.CharDevice,
            TarEntryKind.BlockDevice => NodeKind.BlockDevice,
            TarEntryKind.Fifo => NodeKind.Fifo,
            _ => throw new DecantException(DecantErrorKind.InvalidLayer, $"unsupported entry type {header.Kind}") { Entry = header.Name },
        };
        if (kind == NodeKind.RegularFile && entry.Content is null)
        {
            throw new InvalidOperationException($"regular file {header.Name} was indexed without content");
        }
        var inode = new Inode
        {
            Kind = kind,
            SymlinkTarget = kind == NodeKind.Symlink ? header.LinkName : null,
            DeviceMajor = header.DeviceMajor,
            DeviceMinor = header.DeviceMinor,
            Content = kind == NodeKind.RegularFile ? entry.Content : null,
        };
        if (kind != NodeKind.RegularFile)
        {
            Discard(entry.Content);
        }
        ApplyMetadata(inode, header);
        return inode;
    }

    private void UpdateDirectory(TreeNode directory, TarHeader header)
    {
        ApplyMetadata(directory.Inode, header);
    }

    private void ApplyMetadata(Inode inode, TarHeader header)
    {
        inode.Mode = header.Mode & 0xFFF;
        inode.Uid = header.Uid;
        inode.Gid = header.Gid;
        inode.ModificationTime = header.ModificationTime;
        inode.AccessTime = header.AccessTime ?? header.ModificationTime;
        inode.Xattrs = FilterXattrs(header.Xattrs);
    }

    private IReadOnlyList<KeyValuePair<string, byte[]>> FilterXattrs(IReadOnlyList<KeyValuePair<string, byte[]>> xattrs)
    {
        if (xattrs.Count == 0)
        {
            return [];
        }
        // Last value wins for a repeated name; names are kept sorted so every writer is deterministic.
        var kept = new SortedDictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var (name, value) in xattrs)
        {
            if (_xattrs.Keeps(name))
            {
                kept[name] = value;
            }
        }
        return [.. kept];
    }

    /// <summary>
    /// Finds (creating as needed) the directory an entry goes into. Symlinks on the way are followed
    /// inside the root; files on the way are replaced by directories (rule 4).
    /// </summary>
    private TreeNode ResolveParentForWrite(string[] path, TarHeader header)
    {
        var pending = new LinkedList<string>(path.AsSpan(0, path.Length - 1).ToArray());
        var current = Tree.Root;
        int hops = 0;
        while (pending.First is { } first)
        {
            string component = first.Value;
            pending.RemoveFirst();
            if (component is "" or ".")
            {
                continue;
            }
            if (component == "..")
            {
                current = current.Parent ?? Tree.Root;
                continue;
            }
            var child = current.GetChild(component);
            if (child is null)
            {
                current = Attach(current, component, ImplicitDirectory(header), header);
            }
            else if (child.Inode.IsDirectory)
            {
                current = child;
            }
            else if (child.Inode.Kind == NodeKind.Symlink)
            {
                if (++hops > MaxSymlinkHops)
                {
                    throw new DecantException(DecantErrorKind.UnsafeLayer, $"too many levels of symbolic links resolving the parent of this entry (at \"{DecantException.Abbreviate(child.Path)}\")") { Entry = header.Name };
                }
                current = FollowSymlink(child, current, pending);
            }
            else
            {
                Remove(child);
                current = Attach(current, component, ImplicitDirectory(header), header);
            }
        }
        return current;
    }

    private TreeNode ResolveHardlinkTarget(TarHeader header)
    {
        string[] target = LayerPath.Clean(header.LinkName);
        TreeNode? node = target.Length == 0 ? Tree.Root : LookupFollowingParents(target);
        if (node is null)
        {
            throw new DecantException(DecantErrorKind.UnsafeLayer, $"hardlink target \"{header.LinkName}\" does not exist (after this layer's whiteouts)") { Entry = header.Name };
        }
        if (node.Inode.IsDirectory)
        {
            throw new DecantException(DecantErrorKind.UnsafeLayer, $"hardlink target \"{header.LinkName}\" is a directory") { Entry = header.Name };
        }
        return node;
    }

    /// <summary>Looks up a path following symlinks in its parents (inside the root) but not in its last component.</summary>
    private TreeNode? LookupFollowingParents(string[] path)
    {
        var pending = new LinkedList<string>(path);
        var current = Tree.Root;
        int hops = 0;
        while (pending.First is { } first)
        {
            string component = first.Value;
            pending.RemoveFirst();
            bool isLast = pending.First is null;
            if (component is "" or ".")
            {
                if (isLast)
                {
                    return current;
                }
                continue;
            }
            if (component == "..")
            {
                current = current.Parent ?? Tree.Root;
                continue;
            }
            if (!current.Inode.IsDirectory || current.GetChild(component) is not { } child)
            {
                return null;
            }
            if (!isLast && child.Inode.Kind == NodeKind.Symlink)
            {
                if (++hops > MaxSymlinkHops)
                {
                    return null;
                }
                current = FollowSymlink(child, current, pending);
                continue;
            }
            current = child;
        }
        return current;
    }

    /// <summary>
    /// Replaces a symlink met on the way by its target: the target's components go in front of the
    /// rest of the path, and an absolute target starts again at the image root (never the host's).
    /// </summary>
    private TreeNode FollowSymlink(TreeNode link, TreeNode current, LinkedList<string> pending)
    {
        string target = link.Inode.SymlinkTarget ?? "";
        var parts = target.Split('/');
        for (int i = parts.Length - 1; i >= 0; i--)
        {
            pending.AddFirst(parts[i]);
        }
        return target.StartsWith('/') ? Tree.Root : current;
    }

    private TreeNode? LookupWithoutFollowing(ReadOnlySpan<string> path)
    {
        var current = Tree.Root;
        foreach (var component in path)
        {
            if (!current.Inode.IsDirectory || current.GetChild(component) is not { } child)
            {
                return null;
            }
            current = child;
        }
        return current;
    }

    private static Inode ImplicitDirectory(TarHeader causedBy) => new()
    {
        Kind = NodeKind.Directory,
        Mode = ImplicitDirectoryMode,
        ModificationTime = causedBy.ModificationTime,
        AccessTime = causedBy.ModificationTime,
    };

    private static TreeNode Attach(TreeNode parent, string name, Inode inode, TarHeader causedBy)
    {
        if (parent.Depth >= MaxDepth)
        {
            throw new DecantException(DecantErrorKind.LimitExceeded, $"this entry would make the tree deeper than {MaxDepth} levels (under \"{DecantException.Abbreviate(parent.Path)}\")") { Entry = causedBy.Name };
        }
        var node = new TreeNode(name, parent, inode);
        inode.LinkCount++;
        parent.SetChild(node);
        return node;
    }

    /// <summary>Detaches a node and everything beneath it; contents no path leads to any more are released.</summary>
    private void Remove(TreeNode node)
    {
        node.Parent?.RemoveChild(node.Name);
        var stack = new Stack<TreeNode>();
        stack.Push(node);
        while (stack.Count > 0)
        {
            var current = stack.Pop();
            foreach (var child in current.UnorderedChildren)
            {
                stack.Push(child);
            }
            if (--current.Inode.LinkCount == 0)
            {
                Discard(current.Inode.Content);
            }
        }
        node.Parent = null;
    }

    private void Discard(ContentRef? content)
    {
        if (content is not null)
        {
            _unused.Add(content);
        }
    }

    private static string Describe(TarEntryKind kind) => kind switch
    {
        TarEntryKind.RegularFile => "regular file",
        TarEntryKind.Symlink => "symlink",
        TarEntryKind.Hardlink => "hardlink",
        TarEntryKind.CharDevice => "character device",
        TarEntryKind.BlockDevice => "block device",
        TarEntryKind.Fifo => "fifo",
        _ => kind.ToString(),
    };
}
