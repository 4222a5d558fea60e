namespace Decant.Interop;

/// <summary>
/// Removes directory trees through descriptors only: each directory is opened relative to its
/// already-open parent with O_NOFOLLOW, entries are removed with unlinkat, and a symlink is always
/// removed as itself, never followed. A directory the caller cannot read or write is made 0700
/// first (through a call that refuses symlinks), so rootless runs can remove what they created.
/// </summary>
internal static class TreeRemover
{
    /// <summary>Removes everything inside <paramref name="directory"/>, leaving it empty.</summary>
    public static void RemoveContents(SafeFdHandle directory, string displayPath, CancellationToken cancellationToken)
    {
        foreach (var name in Posix.ListDirectory(directory, displayPath))
        {
            cancellationToken.ThrowIfCancellationRequested();
            RemoveEntry(directory, name, displayPath.TrimEnd('/') + "/" + name, cancellationToken);
        }
    }

    /// <summary>Removes one name inside an open directory: a file, a symlink, or a whole directory tree.</summary>
    public static void RemoveEntry(SafeFdHandle parent, string name, string displayPath, CancellationToken cancellationToken)
    {
        var errno = Posix.TryUnlinkAt(parent, name, 0);
        if (errno is 0 or LibC.ENOENT)
        {
            return;
        }
        if (errno is not (LibC.EISDIR or LibC.EPERM))
        {
            throw Posix.Failure("unlinkat", displayPath, errno);
        }

        using (var child = OpenChildDirectory(parent, name, displayPath))
        {
            if (child is null)
            {
                // Replaced by a non-directory since the unlink: remove that instead.
                Posix.UnlinkAt(parent, name, 0, displayPath);
                return;
            }
            RemoveContents(child, displayPath, cancellationToken);
        }
        errno = Posix.TryUnlinkAt(parent, name, LibC.AT_REMOVEDIR);
        if (errno is not (0 or LibC.ENOENT))
        {
            throw Posix.Failure("unlinkat", displayPath, errno);
        }
    }

    private static SafeFdHandle? OpenChildDirectory(SafeFdHandle parent, string name, string displayPath)
    {
        var dirFlags = LibC.O_RDONLY | LibC.O_DIRECTORY | LibC.O_NOFOLLOW;
        var child = Posix.TryOpenAt(parent, name, dirFlags, 0, out var errno);
        if (child is null && errno == LibC.EACCES)
        {
            // Not readable by a non-root caller: open it up (glibc's fchmodat refuses symlinks here).
            Posix.Check(LibC.FchmodAt(parent, name, 0x1C0, LibC.AT_SYMLINK_NOFOLLOW), "fchmodat", displayPath);
            child = Posix.TryOpenAt(parent, name, dirFlags, 0, out errno);
        }
        if (child is null)
        {
            return errno is LibC.ENOTDIR or LibC.ELOOP ? null : throw Posix.Failure("openat", displayPath, errno);
        }
        if (LibC.GetEffectiveUserId() != 0)
        {
            // Without write and search permission its entries cannot be removed; ours to change if we own it.
            _ = LibC.Fchmod(child, 0x1C0);
        }
        return child;
    }
}
