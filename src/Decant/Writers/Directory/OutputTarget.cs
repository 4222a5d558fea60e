using Decant.Errors;
using Decant.Interop;

namespace Decant.Writers.Directory;

/// <summary>
/// The directory a <see cref="DirectoryWriter"/> fills, and what it takes to undo that: a target
/// this writer created is removed entirely, a target that already existed is emptied again.
/// </summary>
internal sealed class OutputTarget : IDisposable
{
    private const uint PrivateDirectoryMode = 0x1C0; // 0700 while the writer populates it

    private readonly SafeFdHandle _parent;
    private readonly string _name;

    private OutputTarget(SafeFdHandle parent, string name, ConfinedRoot root, bool created)
    {
        _parent = parent;
        _name = name;
        Root = root;
        Created = created;
    }

    /// <summary>The target, with every path inside it resolved by the kernel.</summary>
    public ConfinedRoot Root { get; }

    /// <summary>True when this writer created the target directory (so undoing removes it).</summary>
    public bool Created { get; }

    /// <summary>Creates the target, or takes an existing empty one, or (with force) empties an existing one.</summary>
    public static OutputTarget Prepare(string target, bool force, CancellationToken cancellationToken)
    {
        var full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(target));
        var parentPath = Path.GetDirectoryName(full);
        var name = Path.GetFileName(full);
        if (parentPath is null || name.Length == 0)
        {
            throw new DecantException(DecantErrorKind.OutputError, $"refusing to write a root filesystem over \"{full}\"");
        }
        CreateAncestors(parentPath);

        var parent = Posix.TryOpenAt(SafeFdHandle.CurrentDirectory, parentPath, LibC.O_PATH | LibC.O_DIRECTORY, 0, out var errno)
            ?? throw Posix.Failure("open", parentPath, errno, DecantErrorKind.OutputError);
        try
        {
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
            var result = new OutputTarget(parent, name, new ConfinedRoot(handle, full), created);
            try
            {
                if (!created)
                {
                    result.EnsureEmpty(force, cancellationToken);
                }
                return result;
            }
            catch
            {
                result.Root.Dispose();
                throw;
            }
        }
        catch
        {
            parent.Dispose();
            throw;
        }
    }

    /// <summary>Removes everything the writer put into the target, and the target itself if the writer made it.</summary>
    public void Undo(CancellationToken cancellationToken)
    {
        TreeRemover.RemoveContents(Root.Handle, Root.DisplayPath, cancellationToken);
        if (Created)
        {
            var errno = Posix.TryUnlinkAt(_parent, _name, LibC.AT_REMOVEDIR);
            if (errno is not (0 or LibC.ENOENT))
            {
                throw Posix.Failure("rmdir", Root.DisplayPath, errno);
            }
        }
    }

    public void Dispose()
    {
        Root.Dispose();
        _parent.Dispose();
    }

    private void EnsureEmpty(bool force, CancellationToken cancellationToken)
    {
        if (Posix.ListDirectory(Root.Handle, Root.DisplayPath).Count == 0)
        {
            return;
        }
        if (!force)
        {
            throw new DecantException(DecantErrorKind.OutputError, $"output directory \"{Root.DisplayPath}\" is not empty; use --force to replace its contents");
        }
        TreeRemover.RemoveContents(Root.Handle, Root.DisplayPath, cancellationToken);
    }

    private static void CreateAncestors(string parentPath)
    {
        try
        {
            System.IO.Directory.CreateDirectory(parentPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DecantException(DecantErrorKind.OutputError, $"cannot create \"{parentPath}\": {e.Message}", e);
        }
    }
}
