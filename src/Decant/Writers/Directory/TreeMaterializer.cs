using Decant.Interop;
using Decant.Model;
using Decant.Tree;

namespace Decant.Writers.Directory;

/// <summary>
/// Creates every path of a merged tree inside the target, parents first, with *at calls relative
/// to the kernel-resolved parent: directories (0700 until their metadata is applied), regular files
/// (left where they were written in place, or moved there), further paths of an inode as hardlinks,
/// symlinks, fifos and devices. What the content store wrote in place and the tree does not have
/// at that path is cleared out of each node's way first (<see cref="StagingContentStore.ClearTheWay"/>).
/// The walk creates directories and the other kinds as it meets them and only notes each
/// file's move and each hardlink; <see cref="Finish"/> then moves the files (a hardlink in place and an
/// unlink of the old name, which unlike a rename across directories do not wait on one lock for the
/// whole filesystem), on every core over
/// contiguous runs of the walk, and makes the hardlinks once their targets are in place.
/// With <see cref="OwnershipMode.Rootless"/> device nodes cannot be made, so they are left out and
/// counted (umoci writes empty regular files in their place instead; Decant does not pretend).
/// </summary>
internal sealed class TreeMaterializer : IDisposable
{
    private const uint PrivateMode = 0x1C0; // 0700 for directories while they are filled
    private const uint NewFileMode = 0x180; // 0600 for files until their metadata is applied

    private readonly ConfinedRoot _root;
    private readonly StagingContentStore _store;
    private readonly OwnershipMode _ownership;
    private readonly DirectoryHandleCache _parents;
    private readonly DirectoryHandleCache _linkSources;
    private readonly SummaryCounter _counter = new();
    private readonly List<(TreeNode Node, string Path, StagedContent Staged)> _moves = [];
    private readonly List<TreeStep> _hardlinks = [];

    public TreeMaterializer(ConfinedRoot root, StagingContentStore store, OwnershipMode ownership, DirectoryHandleCache parents)
    {
        _root = root;
        _store = store;
        _ownership = ownership;
        _parents = parents;
        _linkSources = new DirectoryHandleCache(root);
    }

    /// <summary>Every directory created (the root first), in walk order.</summary>
    public List<TreeNode> Directories { get; } = [];

    /// <summary>The first path of every other inode created, which is where its metadata is applied.</summary>
    public List<TreeNode> OtherInodes { get; } = [];

    public WriteSummary Summary => _counter.ToSummary();

    /// <summary>Creates one node as the first path of its inode, its path found by climbing to the root: for a node taken on its own, outside the tree's walk.</summary>
    public void Create(TreeNode node, CancellationToken cancellationToken) => Create(new TreeStep(node, node.Path, firstNode: null, firstPath: null), cancellationToken);

    /// <summary>Creates one path of the tree's walk (<see cref="MergedTree.WalkSteps"/>, with paths); a further path to an inode becomes a hardlink to its first.</summary>
    public void Create(in TreeStep step, CancellationToken cancellationToken)
    {
        var node = step.Node;
        var inode = node.Inode;
        if (node.Parent is null)
        {
            if (!inode.IsDirectory)
            {
                throw new DecantException(DecantErrorKind.UnsafeLayer, $"the image's root is a {inode.Kind}, not a directory");
            }
            Directories.Add(node);
            return;
        }
        string path = step.Path!;
        ValidateName(node);
        var display = _root.Describe(path);
        if (step.FirstNode is { } first)
        {
            _store.ClearTheWay(_parents.Get(node.Parent), node.Name, path, cancellationToken);
            if (_ownership == OwnershipMode.Rootless && inode.Kind is NodeKind.CharDevice or NodeKind.BlockDevice)
            {
                _counter.CountSkippedDevice(); // its first path was left out too
                return;
            }
            if (inode.IsDirectory)
            {
                throw new DecantException(DecantErrorKind.UnsafeLayer, $"directory \"{step.FirstPath}\" appears again at \"{path}\"; directories cannot be hardlinked");
            }
            _hardlinks.Add(step); // once the file it links to is in place
            _counter.Count(node, firstPathOfInode: false);
            return;
        }

        if (inode.Kind == NodeKind.Directory && _store.TakeDirectoryMade(path))
        {
            Directories.Add(node); // made on the way to a content written in place
            _counter.Count(node, firstPathOfInode: true);
            return;
        }
        if (inode.Kind == NodeKind.RegularFile && inode.Content is { } content)
        {
            _counter.Count(node, firstPathOfInode: true);
            if (!PlaceContent(node, content, path, cancellationToken))
            {
                OtherInodes.Add(node); // not finished: its metadata is applied once it is in place
            }
            return;
        }
        var parent = _parents.Get(node.Parent);
        _store.ClearTheWay(parent, node.Name, path, cancellationToken);
        switch (inode.Kind)
        {
            case NodeKind.Directory:
                Posix.MkdirAt(parent, node.Name, PrivateMode, display);
                Directories.Add(node);
                _counter.Count(node, firstPathOfInode: true);
                return;
            case NodeKind.RegularFile:
                Posix.CreateFileAt(parent, node.Name, NewFileMode, display).Dispose();
                break;
            case NodeKind.Symlink:
                Posix.SymlinkAt(inode.SymlinkTarget ?? throw MissingSymlinkTarget(display), parent, node.Name, display);
                break;
            case NodeKind.Fifo:
                Posix.MknodAt(parent, node.Name, LibC.S_IFIFO | NewFileMode, 0, display);
                break;
            case NodeKind.CharDevice or NodeKind.BlockDevice:
                if (_ownership == OwnershipMode.Rootless)
                {
                    _counter.CountSkippedDevice();
                    return;
                }
                DeviceNumbers.CheckLinux(inode, display, "Linux");
                var type = inode.Kind == NodeKind.CharDevice ? LibC.S_IFCHR : LibC.S_IFBLK;
                Posix.MknodAt(parent, node.Name, type | NewFileMode, LibC.MakeDevice(inode.DeviceMajor, inode.DeviceMinor), display);
                break;
            default:
                throw new DecantException(DecantErrorKind.UnsafeLayer, $"\"{path}\" has an unknown kind {inode.Kind}");
        }
        _counter.Count(node, firstPathOfInode: true);
        OtherInodes.Add(node);
    }

    /// <summary>Leaves a regular file's content where it was written in place, or notes its move there; says whether the file is finished, its metadata given as it was written.</summary>
    private bool PlaceContent(TreeNode node, ContentRef content, string path, CancellationToken cancellationToken)
    {
        var staged = _store.Claim(content, path, out bool inPlace);
        if (!inPlace)
        {
            _store.ClearTheWay(_parents.Get(node.Parent!), node.Name, path, cancellationToken);
            _moves.Add((node, path, staged));
        }
        return staged.Applied?.Covers(node.Inode) == true;
    }

    /// <summary>The staged files noted per worker below which one thread moves them all (a thread costs more than it saves).</summary>
    private const int MovesPerWorker = 1024;

    /// <summary>
    /// Moves every staged file the walk noted into place, over contiguous runs of the walk on every
    /// core (<see cref="ContiguousRuns"/>), then makes the hardlinks in walk order.
    /// </summary>
    public void Finish(CancellationToken cancellationToken)
    {
        ContiguousRuns.Run(_moves.Count, MovesPerWorker, (start, end) =>
        {
            using var parents = new DirectoryHandleCache(_root);
            for (int i = start; i < end; i++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var (node, path, staged) = _moves[i];
                _store.MoveIntoPlace(staged, parents.Get(node.Parent!), node.Name, _root.Describe(path));
            }
        }, cancellationToken);
        _moves.Clear();
        foreach (var step in _hardlinks)
        {
            cancellationToken.ThrowIfCancellationRequested();
            CreateHardlink(step.Node, step.FirstNode!, _root.Describe(step.Path!));
        }
        _hardlinks.Clear();
    }

    private void CreateHardlink(TreeNode node, TreeNode first, string display)
    {
        // The first path's parent has a cache of its own: the shared one holds the new path's parent.
        var parent = _parents.Get(node.Parent!);
        var firstParent = ReferenceEquals(first.Parent, node.Parent) ? parent : _linkSources.Get(first.Parent!);
        Posix.LinkAt(firstParent, first.Name, parent, node.Name, display);
    }

    public void Dispose() => _linkSources.Dispose();

    private static void ValidateName(TreeNode node)
    {
        if (node.Name is "" or "." or ".." || node.Name.Contains('/', StringComparison.Ordinal) || node.Name.Contains('\0', StringComparison.Ordinal))
        {
            throw new DecantException(DecantErrorKind.UnsafeLayer, $"tree entry \"{node.Path}\" has a name that is not a single path component");
        }
    }

    private static DecantException MissingSymlinkTarget(string display) =>
        new(DecantErrorKind.UnsafeLayer, $"symlink \"{display}\" has no target");
}
