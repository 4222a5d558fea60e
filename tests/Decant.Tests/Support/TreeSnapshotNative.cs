using System.ComponentModel;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Decant.Tests.Support;

/// <summary>The <c>statx</c> fields a tree snapshot records (the kernel's layout is the same on every architecture).</summary>
internal readonly record struct StatxResult(
    uint Mode,
    uint Uid,
    uint Gid,
    uint LinkCount,
    ulong Inode,
    ulong Size,
    long MtimeSeconds,
    uint MtimeNanoseconds,
    uint RdevMajor,
    uint RdevMinor,
    uint DevMajor,
    uint DevMinor);

/// <summary>
/// Linux calls that never follow a final symlink and take paths as raw bytes, so names that are
/// not valid UTF-8 still work. Used only by the test support code.
/// </summary>
internal static partial class TreeSnapshotNative
{
    private const int AtFdCwd = -100;
    private const int AtSymlinkNoFollow = 0x100;
    private const uint StatxBasicStats = 0x7ff;
    private const int StatxBufferSize = 256;
    private const int OpenCloseOnExec = 0x80000; // O_CLOEXEC (O_RDONLY is 0)
    private const int ErrnoNoData = 61; // ENODATA
    private const int ErrnoRange = 34; // ERANGE
    private const int ErrnoNotSupported = 95; // EOPNOTSUPP
    private const int DirentNameOffset = 19; // struct dirent64: u64 ino, s64 off, u16 reclen, u8 type, char name[]

    /// <summary>O_NOFOLLOW, whose value differs between the x86 and Arm ABIs.</summary>
    private static int OpenNoFollow => RuntimeInformation.ProcessArchitecture is Architecture.Arm64 or Architecture.Arm ? 0x8000 : 0x20000;

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int statx(int dirfd, byte* path, int flags, uint mask, byte* buffer);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial nint readlink(byte* path, byte* buffer, nint size);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial nint llistxattr(byte* path, byte* list, nint size);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial nint lgetxattr(byte* path, byte* name, byte* value, nint size);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int open(byte* path, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial nint opendir(byte* path);

    [LibraryImport("libc", EntryPoint = "readdir64", SetLastError = true)]
    private static partial nint readdir(nint directory);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int closedir(nint directory);

    /// <summary>Returns the path as a NUL-terminated byte string for the C calls.</summary>
    private static byte[] Terminated(ReadOnlySpan<byte> path)
    {
        var buffer = new byte[path.Length + 1];
        path.CopyTo(buffer);
        return buffer;
    }

    private static IOException Failure(string call, ReadOnlySpan<byte> path, int errno) =>
        new($"{call}(\"{SnapshotPath.Display(path)}\") failed: {new Win32Exception(errno).Message} (errno {errno})");

    public static unsafe StatxResult LStat(ReadOnlySpan<byte> path)
    {
        byte[] terminated = Terminated(path);
        byte* buffer = stackalloc byte[StatxBufferSize];
        fixed (byte* p = terminated)
        {
            if (statx(AtFdCwd, p, AtSymlinkNoFollow, StatxBasicStats, buffer) != 0)
            {
                throw Failure("statx", path, Marshal.GetLastPInvokeError());
            }
        }
        return new StatxResult(
            Mode: *(ushort*)(buffer + 28),
            Uid: *(uint*)(buffer + 20),
            Gid: *(uint*)(buffer + 24),
            LinkCount: *(uint*)(buffer + 16),
            Inode: *(ulong*)(buffer + 32),
            Size: *(ulong*)(buffer + 40),
            MtimeSeconds: *(long*)(buffer + 112),
            MtimeNanoseconds: *(uint*)(buffer + 120),
            RdevMajor: *(uint*)(buffer + 128),
            RdevMinor: *(uint*)(buffer + 132),
            DevMajor: *(uint*)(buffer + 136),
            DevMinor: *(uint*)(buffer + 140));
    }

    public static unsafe byte[] ReadLink(ReadOnlySpan<byte> path)
    {
        byte[] terminated = Terminated(path);
        for (int size = 256; ; size *= 4)
        {
            var buffer = new byte[size];
            nint length;
            fixed (byte* p = terminated)
            fixed (byte* b = buffer)
            {
                length = readlink(p, b, size);
            }
            if (length < 0)
            {
                throw Failure("readlink", path, Marshal.GetLastPInvokeError());
            }
            if (length < size)
            {
                return buffer[..(int)length];
            }
        }
    }

    /// <summary>The names of the extended attributes of the path itself (never a symlink's target).</summary>
    public static unsafe IReadOnlyList<byte[]> ListXattrs(ReadOnlySpan<byte> path)
    {
        byte[] terminated = Terminated(path);
        while (true)
        {
            nint needed;
            fixed (byte* p = terminated)
            {
                needed = llistxattr(p, null, 0);
            }
            if (needed < 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                return errno == ErrnoNotSupported ? [] : throw Failure("llistxattr", path, errno);
            }
            var buffer = new byte[needed];
            nint length;
            fixed (byte* p = terminated)
            fixed (byte* b = buffer)
            {
                length = llistxattr(p, b, needed);
            }
            if (length < 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                if (errno == ErrnoRange)
                {
                    continue; // the list grew between the two calls
                }
                throw Failure("llistxattr", path, errno);
            }
            var names = new List<byte[]>();
            foreach (var range in buffer.AsSpan(0, (int)length).Split((byte)0))
            {
                var name = buffer.AsSpan(0, (int)length)[range];
                if (!name.IsEmpty)
                {
                    names.Add(name.ToArray());
                }
            }
            return names;
        }
    }

    /// <summary>The value of one extended attribute, or null when it vanished since it was listed.</summary>
    public static unsafe byte[]? GetXattr(ReadOnlySpan<byte> path, ReadOnlySpan<byte> name)
    {
        byte[] terminatedPath = Terminated(path);
        byte[] terminatedName = Terminated(name);
        while (true)
        {
            nint needed;
            fixed (byte* p = terminatedPath)
            fixed (byte* n = terminatedName)
            {
                needed = lgetxattr(p, n, null, 0);
            }
            if (needed < 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                return errno == ErrnoNoData ? null : throw Failure("lgetxattr", path, errno);
            }
            var value = new byte[needed];
            nint length;
            fixed (byte* p = terminatedPath)
            fixed (byte* n = terminatedName)
            fixed (byte* v = value)
            {
                length = lgetxattr(p, n, v, needed);
            }
            if (length >= 0)
            {
                return value[..(int)length];
            }
            int error = Marshal.GetLastPInvokeError();
            if (error != ErrnoRange)
            {
                return error == ErrnoNoData ? null : throw Failure("lgetxattr", path, error);
            }
        }
    }

    /// <summary>Opens a regular file for reading, refusing to follow a symlink in the last component.</summary>
    public static unsafe SafeFileHandle OpenForRead(ReadOnlySpan<byte> path)
    {
        byte[] terminated = Terminated(path);
        int descriptor;
        fixed (byte* p = terminated)
        {
            descriptor = open(p, OpenCloseOnExec | OpenNoFollow);
        }
        if (descriptor < 0)
        {
            throw Failure("open", path, Marshal.GetLastPInvokeError());
        }
        return new SafeFileHandle(descriptor, ownsHandle: true);
    }

    /// <summary>The raw names in a directory, without <c>.</c> and <c>..</c>, in no particular order.</summary>
    public static unsafe List<byte[]> ReadDirectory(ReadOnlySpan<byte> path)
    {
        byte[] terminated = Terminated(path);
        nint directory;
        fixed (byte* p = terminated)
        {
            directory = opendir(p);
        }
        if (directory == 0)
        {
            throw Failure("opendir", path, Marshal.GetLastPInvokeError());
        }
        try
        {
            var names = new List<byte[]>();
            while (true)
            {
                Marshal.SetLastPInvokeError(0);
                nint entry = readdir(directory);
                if (entry == 0)
                {
                    int errno = Marshal.GetLastPInvokeError();
                    return errno == 0 ? names : throw Failure("readdir", path, errno);
                }
                var name = MemoryMarshal.CreateReadOnlySpanFromNullTerminated((byte*)entry + DirentNameOffset);
                if (!name.SequenceEqual("."u8) && !name.SequenceEqual(".."u8))
                {
                    names.Add(name.ToArray());
                }
            }
        }
        finally
        {
            _ = closedir(directory);
        }
    }
}
