using System.Runtime.InteropServices;
using Decant.Model;

namespace Decant.Interop;

/// <summary>
/// A directory that every path is resolved inside, by the kernel. It holds an O_PATH descriptor of
/// the directory and opens relative paths with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS |
/// RESOLVE_NO_SYMLINKS): the writer creates every directory itself, so a symlink anywhere on the way
/// means something other than the writer put it there, and the open fails rather than leaving the
/// root. Where the kernel has no openat2 (ENOSYS, or EPERM from an old seccomp profile) it walks
/// one component at a time with O_NOFOLLOW | O_DIRECTORY and refuses ".." outright.
/// </summary>
internal sealed unsafe class ConfinedRoot : IDisposable
{
    private static volatile bool s_openat2Missing;
    private readonly bool _walkComponents;

    public ConfinedRoot(SafeFdHandle handle, string displayPath, bool walkComponents = false)
    {
        Handle = handle;
        DisplayPath = displayPath;
        _walkComponents = walkComponents;
    }

    /// <summary>Opens <paramref name="path"/> (which must be a directory) as a root.</summary>
    public static ConfinedRoot Open(string path, bool walkComponents = false)
    {
        var handle = Posix.TryOpenAt(SafeFdHandle.CurrentDirectory, path, LibC.O_PATH | LibC.O_DIRECTORY, 0, out var errno)
            ?? throw Posix.Failure("open", path, errno, DecantErrorKind.OutputError);
        return new ConfinedRoot(handle, path, walkComponents);
    }

    /// <summary>The root's O_PATH descriptor, usable as the directory of any *at call.</summary>
    public SafeFdHandle Handle { get; }

    /// <summary>The root as the user named it, for messages.</summary>
    public string DisplayPath { get; }

    /// <summary>Opens a directory inside the root as an O_PATH handle, for use as the directory of *at calls.</summary>
    public SafeFdHandle OpenDirectory(string relativePath) =>
        Resolve(relativePath, LibC.O_PATH | LibC.O_DIRECTORY);

    /// <summary>Opens a directory inside the root for reading, as fchmod, fsetxattr and readdir need.</summary>
    public SafeFdHandle OpenDirectoryForMetadata(string relativePath) =>
        Resolve(relativePath, LibC.O_RDONLY | LibC.O_DIRECTORY);

    /// <summary>Opens a file inside the root for reading (a symlink anywhere on the way, the last component included, fails).</summary>
    public Microsoft.Win32.SafeHandles.SafeFileHandle OpenFileForReading(string relativePath)
    {
        using var handle = Resolve(relativePath, LibC.O_RDONLY);
        var file = new Microsoft.Win32.SafeHandles.SafeFileHandle(handle.DangerousGetHandle(), ownsHandle: true);
        handle.SetHandleAsInvalid();
        return file;
    }

    /// <summary>
    /// Creates a new regular file for writing at <paramref name="relativePath"/> (never following a
    /// symlink on the way, never replacing anything), in one call; returns 0 and the file, or the
    /// errno (ENOENT: a directory on the way is missing). Without openat2 this says ENOSYS: the
    /// caller has another way to create the file.
    /// </summary>
    public int TryCreateFile(string relativePath, uint mode, out Microsoft.Win32.SafeHandles.SafeFileHandle? file)
    {
        file = null;
        if (_walkComponents || s_openat2Missing)
        {
            return LibC.ENOSYS;
        }
        var errno = TryOpenat2(relativePath, LibC.O_CREAT | LibC.O_EXCL | LibC.O_WRONLY | LibC.O_NOCTTY, mode, out var handle);
        if (handle is not null)
        {
            file = new Microsoft.Win32.SafeHandles.SafeFileHandle(handle.DangerousGetHandle(), ownsHandle: true);
            handle.SetHandleAsInvalid();
        }
        return errno;
    }

    /// <summary>Creates a directory at <paramref name="relativePath"/> inside its resolved parent; returns 0 or the errno (ENOSYS without openat2).</summary>
    public int TryMakeDirectory(string relativePath, uint mode) =>
        WithParent(relativePath, (parent, name) => Posix.TryMkdirAt(parent, name, mode));

    /// <summary>Removes the file at <paramref name="relativePath"/> inside its resolved parent; returns 0 or the errno (ENOSYS without openat2).</summary>
    public int TryRemoveFile(string relativePath) =>
        WithParent(relativePath, (parent, name) => Posix.TryUnlinkAt(parent, name, 0));

    private int WithParent(string relativePath, Func<SafeFdHandle, string, int> call)
    {
        if (_walkComponents || s_openat2Missing)
        {
            return LibC.ENOSYS;
        }
        int slash = relativePath.LastIndexOf('/');
        if (slash < 0)
        {
            return call(Handle, relativePath);
        }
        var errno = TryOpenat2(relativePath[..slash], LibC.O_PATH | LibC.O_DIRECTORY, 0, out var parent);
        if (parent is null)
        {
            return errno;
        }
        using (parent)
        {
            return call(parent, relativePath[(slash + 1)..]);
        }
    }

    /// <summary>How a path inside the root is shown in messages.</summary>
    public string Describe(string relativePath) =>
        relativePath.Length == 0 ? DisplayPath : DisplayPath.TrimEnd('/') + "/" + relativePath;

    private SafeFdHandle Resolve(string relativePath, int flags)
    {
        if (!_walkComponents && !s_openat2Missing)
        {
            var errno = TryOpenat2(relativePath, flags, 0, out var handle);
            if (handle is not null)
            {
                return handle;
            }
            if (errno is not (LibC.ENOSYS or LibC.EPERM))
            {
                throw ResolveFailure(relativePath, errno);
            }
            s_openat2Missing = true;
        }
        return WalkComponents(relativePath, flags);
    }

    private int TryOpenat2(string relativePath, int flags, uint mode, out SafeFdHandle? handle)
    {
        var how = new LibC.OpenHow
        {
            Flags = (ulong)(uint)(flags | LibC.O_CLOEXEC),
            Mode = mode,
            Resolve = LibC.RESOLVE_IN_ROOT | LibC.RESOLVE_NO_MAGICLINKS | LibC.RESOLVE_NO_SYMLINKS,
        };
        string name = relativePath.Length == 0 ? "." : relativePath;
        int length = NameBytes.GetByteCount(name);
        // Paths of ordinary depth are encoded on the stack: this runs once per file a writer creates.
        Span<byte> path = length < 1024 ? stackalloc byte[length + 1] : new byte[length + 1];
        NameBytes.Encode(name, path);
        path[length] = 0;
        fixed (byte* p = path)
        {
            var fd = LibC.SyscallOpenat2(LibC.SYS_openat2, Handle, p, &how, (nuint)sizeof(LibC.OpenHow));
            if (fd < 0)
            {
                handle = null;
                return Marshal.GetLastPInvokeError();
            }
            handle = new SafeFdHandle((int)fd);
            return 0;
        }
    }

    private SafeFdHandle WalkComponents(string relativePath, int flags)
    {
        var parts = relativePath.Length == 0 ? ["."] : relativePath.Split('/');
        if (parts.Any(p => p is ".." or ""))
        {
            throw new DecantException(DecantErrorKind.OutputError, $"refusing to resolve \"{Describe(relativePath)}\": it is not a clean path inside the target");
        }
        var current = Handle;
        for (var i = 0; i < parts.Length; i++)
        {
            var last = i == parts.Length - 1;
            var next = Posix.TryOpenAt(current, parts[i], (last ? flags : LibC.O_PATH | LibC.O_DIRECTORY) | LibC.O_NOFOLLOW, 0, out var errno);
            if (current != Handle)
            {
                current.Dispose();
            }
            current = next ?? throw ResolveFailure(relativePath, errno);
        }
        return current;
    }

    private NativeIOException ResolveFailure(string relativePath, int errno) =>
        // ELOOP: a symlink on the way (RESOLVE_NO_SYMLINKS); ENOTDIR: a non-directory, or a
        // symlink met by the O_NOFOLLOW walk. Either way the target is not what the writer made.
        Posix.Failure("resolve directory", Describe(relativePath), errno,
            errno is LibC.ELOOP or LibC.ENOTDIR or LibC.EXDEV ? DecantErrorKind.OutputError : DecantErrorKind.IOError);

    public void Dispose() => Handle.Dispose();
}
