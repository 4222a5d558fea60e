using Decant.Interop;
using Decant.Model;

namespace Decant.Writers.Directory;

/// <summary>
/// The directory a <see cref="DirectoryWriter"/> fills, and what it takes to undo that: a target
/// this writer created is removed entirely, an existing empty one is emptied again. With force, a
/// non-empty target is not touched until the end: the new tree is built in a hidden directory beside
/// it and swapped in by <see cref="Publish"/>, so a failed or cancelled export leaves it as it was.
/// </summary>
internal sealed class OutputTarget : IDisposable
{
    private const uint PrivateDirectoryMode = 0x1C0; // 0700 while the writer populates it
    private const uint RenameExchange = 2; // renameat2(2) RENAME_EXCHANGE

    private readonly SafeFdHandle _parent;
    private readonly string _parentPath;
    private readonly string _name;
    private readonly string? _replaces;
    private readonly OutputParents _parents;

    private OutputTarget(SafeFdHandle parent, string parentPath, string name, string? replaces, ConfinedRoot root, bool created, OutputParents parents)
    {
        _parent = parent;
        _parentPath = parentPath;
        _name = name;
        _replaces = replaces;
        _parents = parents;
        Root = root;
        Created = created;
    }

    /// <summary>The directory being filled (the target, or the hidden one beside it), with every path inside it resolved by the kernel; messages name the target.</summary>
    public ConfinedRoot Root { get; }

    /// <summary>True when this writer created the directory it fills (so undoing removes it).</summary>
    public bool Created { get; }

    private string WorkingPath => Path.Combine(_parentPath, _name);

    /// <summary>Creates the target, or takes an existing empty one, or (with force) prepares to replace an existing one.</summary>
    public static OutputTarget Prepare(string target, bool force, CancellationToken cancellationToken)
    {
        var full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(target));
        var parentPath = Path.GetDirectoryName(full);
        var name = Path.GetFileName(full);
        if (parentPath is null || name.Length == 0)
        {
            throw new DecantException(DecantErrorKind.OutputError, $"refusing to write a root filesystem over \"{full}\"");
        }
        var parents = OutputParents.Create(parentPath);
        SafeFdHandle? parent = null;
        try
        {
            parent = Posix.TryOpenAt(SafeFdHandle.CurrentDirectory, parentPath, LibC.O_PATH | LibC.O_DIRECTORY, 0, out var errno)
                ?? throw Posix.Failure("open", parentPath, errno, DecantErrorKind.OutputError);
            var created = LibC.MkdirAt(parent, name, PrivateDirectoryMode) == 0;
            if (!created)
            {
                errno = System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
                if (errno != LibC.EEXIST)
                {
                    throw Posix.Failure("mkdir", full, errno, DecantErrorKind.OutputError);
                }
            }
            // A target we just made must not have been swapped for a symlink; an existing one may be
            // a symlink to a directory the user chose.
            var flags = LibC.O_PATH | LibC.O_DIRECTORY | (created ? LibC.O_NOFOLLOW : 0);
            var handle = Posix.TryOpenAt(parent, name, flags, 0, out errno)
                ?? throw (errno == LibC.ENOTDIR
                    ? new DecantException(DecantErrorKind.OutputError, $"output \"{full}\" exists and is not a directory")
                    : Posix.Failure("open", full, errno, DecantErrorKind.OutputError));
            if (created || Posix.ListDirectory(handle, full).Count == 0)
            {
                var result = new OutputTarget(parent, parentPath, name, null, new ConfinedRoot(handle, full), created, parents);
                parent = null;
                return result;
            }
            string beside = $".{name}.decant-{Guid.NewGuid():N}";
            try
            {
                if (!force)
                {
                    throw new DecantException(DecantErrorKind.OutputError, $"output directory \"{full}\" is not empty") { Setting = nameof(WriterOptions.Force) };
                }
                if ((Posix.StatAt(parent, name, full).Mode & LibC.S_IFMT) == LibC.S_IFLNK)
                {
                    // Replace the directory the symlink leads to, beside that directory; the symlink stays.
                    var real = new DirectoryInfo(full).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? full;
                    handle.Dispose();
                    parent.Dispose();
                    parent = null;
                    return Prepare(real, force, cancellationToken);
                }
                // A mount point cannot be swapped, and a parent the caller may not write to cannot hold the
                // new tree beside it: then the target is emptied in place, the only way left.
                if (IsMountPoint(handle, parent, full) || LibC.MkdirAt(parent, beside, PrivateDirectoryMode) != 0)
                {
                    TreeRemover.RemoveContents(handle, full, cancellationToken);
                    var inPlace = new OutputTarget(parent, parentPath, name, null, new ConfinedRoot(handle, full), created: false, parents);
                    parent = null;
                    return inPlace;
                }
            }
            catch
            {
                handle.Dispose();
                throw;
            }
            handle.Dispose();
            var staged = Posix.TryOpenAt(parent, beside, LibC.O_PATH | LibC.O_DIRECTORY | LibC.O_NOFOLLOW, 0, out errno);
            if (staged is null)
            {
                _ = Posix.TryUnlinkAt(parent, beside, LibC.AT_REMOVEDIR);
                throw Posix.Failure("open", Path.Combine(parentPath, beside), errno, DecantErrorKind.OutputError);
            }
            var replacing = new OutputTarget(parent, parentPath, beside, name, new ConfinedRoot(staged, full), created: true, parents);
            parent = null;
            return replacing;
        }
        catch
        {
            parent?.Dispose();
            parents.Remove();
            throw;
        }
    }

    /// <summary>
    /// When the tree was built beside an existing target, puts it in the target's place (one atomic
    /// exchange where the filesystem has RENAME_EXCHANGE, else the old moved aside and the new moved in)
    /// and removes the old tree. The new output is in place once this returns; a failure to remove the
    /// old tree is returned, not thrown.
    /// </summary>
    public DecantException? Publish()
    {
        if (_replaces is null)
        {
            return null;
        }
        string old = _name;
        if (LibC.RenameAt2(_parent, _name, _parent, _replaces, RenameExchange) != 0)
        {
            var errno = System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
            if (errno != LibC.EINVAL)
            {
                throw Posix.Failure("renameat2", Root.DisplayPath, errno, DecantErrorKind.OutputError);
            }
            old = $".{_replaces}.decant-old-{Guid.NewGuid():N}";
            Posix.RenameNoReplace(_parent, _replaces, _parent, old, Root.DisplayPath);
            try
            {
                Posix.RenameNoReplace(_parent, _name, _parent, _replaces, Root.DisplayPath);
            }
            catch
            {
                Posix.RenameNoReplace(_parent, old, _parent, _replaces, Root.DisplayPath);
                throw;
            }
        }
        string oldPath = Path.Combine(_parentPath, old);
        try
        {
            TreeRemover.RemoveEntry(_parent, old, oldPath, CancellationToken.None);
            return null;
        }
        catch (DecantException e)
        {
            return new DecantException(DecantErrorKind.OutputError, $"the previous contents of \"{Root.DisplayPath}\" were moved to \"{oldPath}\" and could not be removed: {e.Message}", e);
        }
    }

    /// <summary>Removes everything the writer put into the directory it fills, that directory if the writer made it, and the parents it made.</summary>
    public void Undo(CancellationToken cancellationToken)
    {
        TreeRemover.RemoveContents(Root.Handle, WorkingPath, cancellationToken);
        if (Created)
        {
            var errno = Posix.TryUnlinkAt(_parent, _name, LibC.AT_REMOVEDIR);
            if (errno is not (0 or LibC.ENOENT))
            {
                throw Posix.Failure("rmdir", WorkingPath, errno);
            }
        }
        _parents.Remove();
    }

    public void Dispose()
    {
        Root.Dispose();
        _parent.Dispose();
    }

    private static bool IsMountPoint(SafeFdHandle directory, SafeFdHandle parent, string displayPath)
    {
        var self = Posix.Stat(directory, displayPath);
        var above = Posix.Stat(parent, displayPath);
        return self.DevMajor != above.DevMajor || self.DevMinor != above.DevMinor;
    }
}
