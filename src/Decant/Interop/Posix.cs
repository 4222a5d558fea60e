using System.Globalization;
using System.Runtime.InteropServices;
using Decant.Model;
using Microsoft.Win32.SafeHandles;

namespace Decant.Interop;

/// <summary>
/// Checked wrappers over <see cref="LibC"/>: each call either succeeds or throws a
/// <see cref="NativeIOException"/> naming the call, the path (as the user should see it) and the
/// kernel's reason. Every path argument is one name relative to a directory descriptor.
/// </summary>
internal static unsafe class Posix
{
    private static int LastError => Marshal.GetLastPInvokeError();

    public static NativeIOException Failure(string operation, string path, int errno, DecantErrorKind kind = DecantErrorKind.IOError) =>
        new(kind, operation, path, errno);

    /// <summary>openat(2) returning an owned descriptor, or the errno when it fails.</summary>
    /// <summary>
    /// Makes the calling thread run only when a core would otherwise be idle (SCHED_IDLE), for the
    /// rest of its life: an unprivileged thread cannot come back. False when the kernel refuses.
    /// </summary>
    public static bool TryRunCallingThreadWhenIdle()
    {
        int priority = 0;
        return LibC.SchedSetScheduler(0, LibC.SCHED_IDLE, &priority) == 0;
    }

    public static SafeFdHandle? TryOpenAt(SafeHandle dir, string name, int flags, uint mode, out int errno)
    {
        var fd = LibC.OpenAt(dir, name, flags | LibC.O_CLOEXEC, mode);
        errno = fd < 0 ? LastError : 0;
        return fd < 0 ? null : new SafeFdHandle(fd);
    }

    public static SafeFdHandle OpenAt(SafeHandle dir, string name, int flags, uint mode, string displayPath) =>
        TryOpenAt(dir, name, flags, mode, out var errno) ?? throw Failure("openat", displayPath, errno);

    /// <summary>Makes a directory's entries durable (fsync of the directory itself), as an atomic publish by rename needs.</summary>
    public static void FlushDirectory(string path)
    {
        using var directory = OpenAt(SafeFdHandle.CurrentDirectory, path, LibC.O_RDONLY | LibC.O_DIRECTORY, 0, path);
        if (LibC.Fsync(directory) != 0)
        {
            throw Failure("fsync", path, LastError);
        }
    }

    /// <summary>
    /// Opens an existing file for reading without ever blocking (O_NONBLOCK: a FIFO opens at once)
    /// and, with <paramref name="noFollow"/>, without following a symlink in the last component;
    /// then says what the descriptor is, from fstat, so the type checked is the type read. Null
    /// with the errno when the open fails (ELOOP: the name is a symlink).
    /// </summary>
    public static SafeFileHandle? TryOpenForReading(string path, bool noFollow, out LibC.Statx status, out int errno)
    {
        status = default;
        int flags = LibC.O_RDONLY | LibC.O_NONBLOCK | LibC.O_NOCTTY | LibC.O_CLOEXEC | (noFollow ? LibC.O_NOFOLLOW : 0);
        var fd = LibC.OpenAt(SafeFdHandle.CurrentDirectory, path, flags, 0);
        if (fd < 0)
        {
            errno = LastError;
            return null;
        }
        var handle = new SafeFileHandle(fd, ownsHandle: true);
        LibC.Statx result;
        if (LibC.StatxAt(handle, "", LibC.AT_EMPTY_PATH | LibC.AT_SYMLINK_NOFOLLOW, LibC.STATX_BASIC_STATS, &result) != 0)
        {
            errno = LastError;
            handle.Dispose();
            return null;
        }
        errno = 0;
        status = result;
        return handle;
    }

    /// <summary>What a file type (st_mode &amp; S_IFMT) is called in messages.</summary>
    public static string FileTypeName(uint mode) => (mode & LibC.S_IFMT) switch
    {
        LibC.S_IFREG => "regular file",
        LibC.S_IFDIR => "directory",
        LibC.S_IFLNK => "symbolic link",
        LibC.S_IFIFO => "FIFO",
        LibC.S_IFCHR => "character device",
        LibC.S_IFBLK => "block device",
        0xC000 => "socket",
        _ => "special file",
    };

    /// <summary>Creates a new regular file (never following or replacing anything) for writing.</summary>
    public static SafeFileHandle CreateFileAt(SafeHandle dir, string name, uint mode, string displayPath)
    {
        int errno = TryCreateFileAt(dir, name, mode, out var file);
        return errno == 0 ? file! : throw Failure("openat", displayPath, errno);
    }

    /// <summary>Creates a new regular file for writing, as <see cref="CreateFileAt"/> does; returns 0 and the file, or the errno.</summary>
    public static int TryCreateFileAt(SafeHandle dir, string name, uint mode, out SafeFileHandle? file)
    {
        var fd = LibC.OpenAt(dir, name, LibC.O_CREAT | LibC.O_EXCL | LibC.O_WRONLY | LibC.O_NOFOLLOW | LibC.O_NOCTTY | LibC.O_CLOEXEC, mode);
        file = fd >= 0 ? new SafeFileHandle(fd, ownsHandle: true) : null;
        return fd >= 0 ? 0 : LastError;
    }

    /// <summary>Creates a directory; returns 0 or the errno.</summary>
    public static int TryMkdirAt(SafeHandle dir, string name, uint mode) =>
        LibC.MkdirAt(dir, name, mode) == 0 ? 0 : LastError;

    public static void MkdirAt(SafeHandle dir, string name, uint mode, string displayPath) =>
        Check(LibC.MkdirAt(dir, name, mode), "mkdirat", displayPath);

    public static void MknodAt(SafeHandle dir, string name, uint typeAndMode, ulong device, string displayPath) =>
        Check(LibC.MknodAt(dir, name, typeAndMode, device), "mknodat", displayPath);

    public static void SymlinkAt(string target, SafeHandle dir, string name, string displayPath) =>
        Check(LibC.SymlinkAt(target, dir, name), "symlinkat", displayPath);

    public static void LinkAt(SafeHandle oldDir, string oldName, SafeHandle newDir, string newName, string displayPath) =>
        Check(LibC.LinkAt(oldDir, oldName, newDir, newName, 0), "linkat", displayPath);

    /// <summary>Moves a name without ever replacing an existing one (plain renameat where the filesystem lacks RENAME_NOREPLACE).</summary>
    public static void RenameNoReplace(SafeHandle oldDir, string oldName, SafeHandle newDir, string newName, string displayPath)
    {
        if (LibC.RenameAt2(oldDir, oldName, newDir, newName, LibC.RENAME_NOREPLACE) == 0)
        {
            return;
        }
        var errno = LastError;
        if (errno is LibC.EINVAL or LibC.ENOSYS)
        {
            Check(LibC.RenameAt(oldDir, oldName, newDir, newName), "renameat", displayPath);
            return;
        }
        throw Failure("renameat2", displayPath, errno);
    }

    /// <summary>
    /// Moves a file's name to another directory without replacing an existing one, as a hardlink
    /// at the new name and an unlink of the old: unlike a rename across directories, which the
    /// kernel serializes on one lock for the whole filesystem, these lock only the two directories,
    /// so movers on several cores run side by side. Falls back to <see cref="RenameNoReplace"/>
    /// where the filesystem cannot hardlink it.
    /// </summary>
    public static void MoveFileNoReplace(SafeHandle oldDir, string oldName, SafeHandle newDir, string newName, string displayPath)
    {
        if (LibC.LinkAt(oldDir, oldName, newDir, newName, 0) != 0)
        {
            var errno = LastError;
            if (errno is not (LibC.EPERM or LibC.EMLINK or LibC.EOPNOTSUPP or LibC.ENOSYS or LibC.EXDEV))
            {
                throw Failure("linkat", displayPath, errno);
            }
            RenameNoReplace(oldDir, oldName, newDir, newName, displayPath);
            return;
        }
        Check(LibC.UnlinkAt(oldDir, oldName, 0), "unlinkat", displayPath);
    }

    /// <summary>unlinkat(2); returns the errno instead of throwing so removers can decide.</summary>
    public static int TryUnlinkAt(SafeHandle dir, string name, int flags) =>
        LibC.UnlinkAt(dir, name, flags) == 0 ? 0 : LastError;

    public static void UnlinkAt(SafeHandle dir, string name, int flags, string displayPath)
    {
        var errno = TryUnlinkAt(dir, name, flags);
        if (errno != 0)
        {
            throw Failure("unlinkat", displayPath, errno);
        }
    }

    public static void Ftruncate(SafeHandle fd, long length, string displayPath) =>
        Check(LibC.Ftruncate(fd, length), "ftruncate", displayPath);

    /// <summary>statx(2) of a name relative to a directory, never following a final symlink.</summary>
    public static LibC.Statx StatAt(SafeHandle dir, string name, string displayPath)
    {
        LibC.Statx result;
        Check(LibC.StatxAt(dir, name, LibC.AT_SYMLINK_NOFOLLOW, LibC.STATX_BASIC_STATS, &result), "statx", displayPath);
        return result;
    }

    /// <summary>statx(2) of a name inside an open directory, not following a symlink; returns 0 or the errno.</summary>
    public static int TryStatAt(SafeHandle dir, string name, out LibC.Statx status)
    {
        LibC.Statx result;
        int errno = LibC.StatxAt(dir, name, LibC.AT_SYMLINK_NOFOLLOW, LibC.STATX_BASIC_STATS, &result) == 0 ? 0 : LastError;
        status = result;
        return errno;
    }

    /// <summary>statx(2) of an open descriptor.</summary>
    public static LibC.Statx Stat(SafeHandle fd, string displayPath)
    {
        LibC.Statx result;
        Check(LibC.StatxAt(fd, "", LibC.AT_EMPTY_PATH | LibC.AT_SYMLINK_NOFOLLOW, LibC.STATX_BASIC_STATS, &result), "statx", displayPath);
        return result;
    }

    /// <summary>readlinkat(2) of a name relative to a directory.</summary>
    public static string ReadLinkAt(SafeHandle dir, string name, string displayPath)
    {
        var buffer = new byte[4096];
        fixed (byte* p = buffer)
        {
            var length = LibC.ReadlinkAt(dir, name, p, (nuint)buffer.Length);
            if (length < 0)
            {
                throw Failure("readlinkat", displayPath, LastError);
            }
            return NameBytes.Decode(buffer.AsSpan(0, (int)length));
        }
    }

    /// <summary>
    /// The path by which <c>l*xattr</c> calls reach <paramref name="name"/> inside an open directory:
    /// the walk goes through the descriptor's /proc magic link (no path lookup of the parents) and the
    /// final name is never followed. Keep <paramref name="dir"/> alive while the path is used.
    /// </summary>
    public static string PathThroughDescriptor(SafeFdHandle dir, string name) =>
        string.Create(CultureInfo.InvariantCulture, $"/proc/self/fd/{dir.Number}/{name}");

    /// <summary>The errno of fsetxattr(2) on an open file or directory, 0 on success.</summary>
    public static int TrySetXattr(SafeHandle fd, string attribute, ReadOnlySpan<byte> value)
    {
        fixed (byte* p = value)
        {
            return LibC.Fsetxattr(fd, attribute, p, (nuint)value.Length, 0) == 0 ? 0 : LastError;
        }
    }

    /// <summary>The errno of lsetxattr(2) (the final name is not followed), 0 on success.</summary>
    public static int TrySetXattrNoFollow(string path, string attribute, ReadOnlySpan<byte> value)
    {
        fixed (byte* p = value)
        {
            return LibC.Lsetxattr(path, attribute, p, (nuint)value.Length, 0) == 0 ? 0 : LastError;
        }
    }

    /// <summary>lgetxattr(2): the value, or null when the attribute is absent.</summary>
    public static byte[]? GetXattrNoFollow(string path, string attribute)
    {
        var size = LibC.Lgetxattr(path, attribute, null, 0);
        if (size < 0)
        {
            var errno = LastError;
            return errno == LibC.ENODATA ? null : throw Failure("lgetxattr", path, errno);
        }
        var value = new byte[size];
        fixed (byte* p = value)
        {
            size = LibC.Lgetxattr(path, attribute, p, (nuint)value.Length);
        }
        return size < 0 ? throw Failure("lgetxattr", path, LastError) : value.AsSpan(0, (int)size).ToArray();
    }

    /// <summary>llistxattr(2): every attribute name of a path, its final name not followed.</summary>
    public static IReadOnlyList<string> ListXattrsNoFollow(string path)
    {
        var size = LibC.Llistxattr(path, null, 0);
        if (size < 0)
        {
            throw Failure("llistxattr", path, LastError);
        }
        var buffer = new byte[size];
        fixed (byte* p = buffer)
        {
            size = LibC.Llistxattr(path, p, (nuint)buffer.Length);
        }
        if (size < 0)
        {
            throw Failure("llistxattr", path, LastError);
        }
        var names = new List<string>();
        foreach (var range in buffer.AsSpan(0, (int)size).Split((byte)0))
        {
            if (range.End.Value > range.Start.Value)
            {
                names.Add(NameBytes.Decode(buffer.AsSpan(range)));
            }
        }
        return names;
    }

    public static void Check(int result, string operation, string displayPath)
    {
        if (result != 0)
        {
            throw Failure(operation, displayPath, LastError);
        }
    }

    /// <summary>The entry names of an open directory, without "." and "..".</summary>
    public static List<string> ListDirectory(SafeFdHandle dir, string displayPath)
    {
        // fdopendir takes the descriptor it is given, so it gets a fresh one of its own.
        using var own = OpenAt(dir, ".", LibC.O_RDONLY | LibC.O_DIRECTORY, 0, displayPath);
        var stream = LibC.Fdopendir(own.Number);
        if (stream == 0)
        {
            throw Failure("fdopendir", displayPath, LastError);
        }
        own.SetHandleAsInvalid();
        try
        {
            var names = new List<string>();
            while (true)
            {
                var entry = LibC.Readdir(stream);
                if (entry is null)
                {
                    var errno = LastError;
                    return errno == 0 ? names : throw Failure("readdir", displayPath, errno);
                }
                var name = NameBytes.Decode(MemoryMarshal.CreateReadOnlySpanFromNullTerminated(entry + LibC.DirentNameOffset));
                if (name is not ("." or ".."))
                {
                    names.Add(name);
                }
            }
        }
        finally
        {
            _ = LibC.Closedir(stream);
        }
    }
}
