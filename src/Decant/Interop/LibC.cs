using System.Runtime.InteropServices;

namespace Decant.Interop;

/// <summary>
/// Every libc call Decant makes, declared once. Raw entry points return what libc returns
/// (-1 with errno on failure, read through <see cref="Marshal.GetLastPInvokeError"/>); the checked
/// helpers in <see cref="Posix"/> turn failures into <see cref="Decant.Model.DecantException"/>.
/// Constants are the Linux values; the two open flags that differ on ARM are chosen at run time.
/// </summary>
internal static unsafe partial class LibC
{
    private const string Library = "libc";

    // open(2) flags. O_DIRECTORY and O_NOFOLLOW are the only ones whose values differ on ARM.
    private static readonly bool IsArm = RuntimeInformation.ProcessArchitecture is Architecture.Arm or Architecture.Arm64;
    public const int O_RDONLY = 0x0;
    public const int O_WRONLY = 0x1;
    public const int O_CREAT = 0x40;
    public const int O_RDWR = 0x2;
    public const int O_EXCL = 0x80;
    public const int O_NOCTTY = 0x100;
    public const int O_NONBLOCK = 0x800;
    public const int O_CLOEXEC = 0x80000;
    public const int O_PATH = 0x200000;
    public static readonly int O_DIRECTORY = IsArm ? 0x4000 : 0x10000;
    public static readonly int O_NOFOLLOW = IsArm ? 0x8000 : 0x20000;
    /// <summary>An unnamed file in the directory opened (it has a name only once linkat gives it one).</summary>
    public static readonly int O_TMPFILE = 0x400000 | O_DIRECTORY;

    // *at(2) flags.
    public const int AT_FDCWD = -100;
    public const int AT_SYMLINK_NOFOLLOW = 0x100;
    public const int AT_REMOVEDIR = 0x200;
    public const int AT_EMPTY_PATH = 0x1000;
    public const int AT_SYMLINK_FOLLOW = 0x400;

    // openat2(2) resolve flags.
    public const ulong RESOLVE_NO_MAGICLINKS = 0x02;
    public const ulong RESOLVE_NO_SYMLINKS = 0x04;
    public const ulong RESOLVE_IN_ROOT = 0x10;

    // renameat2(2).
    public const uint RENAME_NOREPLACE = 1;

    // File types (st_mode & S_IFMT).
    public const uint S_IFMT = 0xF000;
    public const uint S_IFIFO = 0x1000;
    public const uint S_IFCHR = 0x2000;
    public const uint S_IFDIR = 0x4000;
    public const uint S_IFBLK = 0x6000;
    public const uint S_IFREG = 0x8000;
    public const uint S_IFLNK = 0xA000;

    // statx(2) mask: every basic field.
    public const uint STATX_BASIC_STATS = 0x7FF;

    // openat2 has the same number on every architecture (it was added after the tables were unified).
    public const long SYS_openat2 = 437;

    // errno values used in decisions.
    public const int EPERM = 1;
    public const int ENOENT = 2;
    public const int EINTR = 4;
    public const int EWOULDBLOCK = 11;
    // flock(2) operations.
    public const int LOCK_EX = 2;
    public const int LOCK_NB = 4;
    public const int EACCES = 13;
    public const int EEXIST = 17;
    public const int EMLINK = 31;
    public const int EXDEV = 18;
    public const int ENOTDIR = 20;
    public const int EISDIR = 21;
    public const int EINVAL = 22;
    public const int ENOSYS = 38;
    public const int ENOTEMPTY = 39;
    public const int ELOOP = 40;
    public const int ENODATA = 61;
    public const int EOPNOTSUPP = 95;

    /// <summary>The argument block of openat2(2).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct OpenHow
    {
        public ulong Flags;
        public ulong Mode;
        public ulong Resolve;
    }

    /// <summary>A struct timespec on a 64-bit Linux.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    /// <summary>A statx(2) timestamp.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct StatxTimestamp
    {
        public long Seconds;
        public uint Nanoseconds;
        private readonly int _reserved;
    }

    /// <summary>struct statx: the same layout on every architecture, unlike struct stat.</summary>
    [StructLayout(LayoutKind.Sequential, Size = 256)]
    public struct Statx
    {
        public uint Mask;
        public uint BlockSize;
        public ulong Attributes;
        public uint LinkCount;
        public uint Uid;
        public uint Gid;
        public ushort Mode;
        private readonly ushort _spare0;
        public ulong Inode;
        public ulong Size;
        public ulong Blocks;
        public ulong AttributesMask;
        public StatxTimestamp AccessTime;
        public StatxTimestamp BirthTime;
        public StatxTimestamp ChangeTime;
        public StatxTimestamp ModificationTime;
        public uint RdevMajor;
        public uint RdevMinor;
        public uint DevMajor;
        public uint DevMinor;
    }

    /// <summary>glibc's <c>makedev</c>: packs a major and minor number into a dev_t.</summary>
    public static ulong MakeDevice(uint major, uint minor) =>
        ((ulong)(major & 0xFFFFF000) << 32) | ((ulong)(major & 0xFFF) << 8) | ((ulong)(minor & 0xFFFFFF00) << 12) | (minor & 0xFF);

    // glibc 2.36 has no openat2 wrapper, so it goes through syscall(2) with a fixed arity.
    [LibraryImport(Library, EntryPoint = "syscall", SetLastError = true)]
    public static partial long SyscallOpenat2(long number, SafeHandle dirfd, byte* path, OpenHow* how, nuint size);

    [LibraryImport(Library, EntryPoint = "flock", SetLastError = true)]
    public static partial int Flock(SafeHandle fd, int operation);

    [LibraryImport(Library, EntryPoint = "fsync", SetLastError = true)]
    public static partial int Fsync(SafeHandle fd);

    /// <summary>sched_setscheduler(2)'s policy for a thread that runs only when a core would otherwise be idle.</summary>
    public const int SCHED_IDLE = 5;

    /// <summary>sched_setscheduler(2); <paramref name="pid"/> 0 is the calling thread, <paramref name="priority"/> its struct sched_param.</summary>
    [LibraryImport(Library, EntryPoint = "sched_setscheduler", SetLastError = true)]
    public static partial int SchedSetScheduler(int pid, int policy, int* priority);

    [LibraryImport(Library, EntryPoint = "openat", SetLastError = true, StringMarshalling = StringMarshalling.Custom, StringMarshallingCustomType = typeof(NameMarshaller))]
    public static partial int OpenAt(SafeHandle dirfd, string path, int flags, uint mode);

    [LibraryImport(Library, EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int fd);

    [LibraryImport(Library, EntryPoint = "mkdirat", SetLastError = true, StringMarshalling = StringMarshalling.Custom, StringMarshallingCustomType = typeof(NameMarshaller))]
    public static partial int MkdirAt(SafeHandle dirfd, string path, uint mode);

    [LibraryImport(Library, EntryPoint = "mknodat", SetLastError = true, StringMarshalling = StringMarshalling.Custom, StringMarshallingCustomType = typeof(NameMarshaller))]
    public static partial int MknodAt(SafeHandle dirfd, string path, uint mode, ulong device);

    [LibraryImport(Library, EntryPoint = "symlinkat", SetLastError = true, StringMarshalling = StringMarshalling.Custom, StringMarshallingCustomType = typeof(NameMarshaller))]
    public static partial int SymlinkAt(string target, SafeHandle newdirfd, string linkpath);

    [LibraryImport(Library, EntryPoint = "linkat", SetLastError = true, StringMarshalling = StringMarshalling.Custom, StringMarshallingCustomType = typeof(NameMarshaller))]
    public static partial int LinkAt(SafeHandle olddirfd, string oldpath, SafeHandle newdirfd, string newpath, int flags);

    [LibraryImport(Library, EntryPoint = "renameat2", SetLastError = true, StringMarshalling = StringMarshalling.Custom, StringMarshallingCustomType = typeof(NameMarshaller))]
    public static partial int RenameAt2(SafeHandle olddirfd, string oldpath, SafeHandle newdirfd, string newpath, uint flags);

    [LibraryImport(Library, EntryPoint = "renameat", SetLastError = true, StringMarshalling = StringMarshalling.Custom, StringMarshallingCustomType = typeof(NameMarshaller))]
    public static partial int RenameAt(SafeHandle olddirfd, string oldpath, SafeHandle newdirfd, string newpath);

    [LibraryImport(Library, EntryPoint = "unlinkat", SetLastError = true, StringMarshalling = StringMarshalling.Custom, StringMarshallingCustomType = typeof(NameMarshaller))]
    public static partial int UnlinkAt(SafeHandle dirfd, string path, int flags);

    [LibraryImport(Library, EntryPoint = "fchownat", SetLastError = true, StringMarshalling = StringMarshalling.Custom, StringMarshallingCustomType = typeof(NameMarshaller))]
    public static partial int FchownAt(SafeHandle dirfd, string path, uint uid, uint gid, int flags);

    [LibraryImport(Library, EntryPoint = "fchown", SetLastError = true)]
    public static partial int Fchown(SafeHandle fd, uint uid, uint gid);

    [LibraryImport(Library, EntryPoint = "fchmod", SetLastError = true)]
    public static partial int Fchmod(SafeHandle fd, uint mode);

    // With AT_SYMLINK_NOFOLLOW glibc opens the name O_PATH|O_NOFOLLOW, refuses a symlink with
    // EOPNOTSUPP and changes the mode through that descriptor: never through a symlink.
    [LibraryImport(Library, EntryPoint = "fchmodat", SetLastError = true, StringMarshalling = StringMarshalling.Custom, StringMarshallingCustomType = typeof(NameMarshaller))]
    public static partial int FchmodAt(SafeHandle dirfd, string path, uint mode, int flags);

    [LibraryImport(Library, EntryPoint = "utimensat", SetLastError = true, StringMarshalling = StringMarshalling.Custom, StringMarshallingCustomType = typeof(NameMarshaller))]
    public static partial int UtimensAt(SafeHandle dirfd, string path, TimeSpec* times, int flags);

    [LibraryImport(Library, EntryPoint = "futimens", SetLastError = true)]
    public static partial int Futimens(SafeHandle fd, TimeSpec* times);

    [LibraryImport(Library, EntryPoint = "fsetxattr", SetLastError = true, StringMarshalling = StringMarshalling.Custom, StringMarshallingCustomType = typeof(NameMarshaller))]
    public static partial int Fsetxattr(SafeHandle fd, string name, byte* value, nuint size, int flags);

    [LibraryImport(Library, EntryPoint = "lsetxattr", SetLastError = true, StringMarshalling = StringMarshalling.Custom, StringMarshallingCustomType = typeof(NameMarshaller))]
    public static partial int Lsetxattr(string path, string name, byte* value, nuint size, int flags);

    [LibraryImport(Library, EntryPoint = "lgetxattr", SetLastError = true, StringMarshalling = StringMarshalling.Custom, StringMarshallingCustomType = typeof(NameMarshaller))]
    public static partial nint Lgetxattr(string path, string name, byte* value, nuint size);

    [LibraryImport(Library, EntryPoint = "llistxattr", SetLastError = true, StringMarshalling = StringMarshalling.Custom, StringMarshallingCustomType = typeof(NameMarshaller))]
    public static partial nint Llistxattr(string path, byte* list, nuint size);

    [LibraryImport(Library, EntryPoint = "readlinkat", SetLastError = true, StringMarshalling = StringMarshalling.Custom, StringMarshallingCustomType = typeof(NameMarshaller))]
    public static partial nint ReadlinkAt(SafeHandle dirfd, string path, byte* buffer, nuint size);

    [LibraryImport(Library, EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Custom, StringMarshallingCustomType = typeof(NameMarshaller))]
    public static partial int StatxAt(SafeHandle dirfd, string path, int flags, uint mask, Statx* result);

    [LibraryImport(Library, EntryPoint = "geteuid")]
    public static partial uint GetEffectiveUserId();

    [LibraryImport(Library, EntryPoint = "getegid")]
    public static partial uint GetEffectiveGroupId();

    [LibraryImport(Library, EntryPoint = "fallocate", SetLastError = true)]
    public static partial int Fallocate(SafeHandle fd, int mode, long offset, long length);

    /// <summary>posix_fadvise(2)'s advice that the range will be read soon: the kernel starts reading it into the page cache.</summary>
    public const int POSIX_FADV_WILLNEED = 3;

    /// <summary>posix_fadvise(2); returns the errno (0 on success) rather than setting it.</summary>
    [LibraryImport(Library, EntryPoint = "posix_fadvise")]
    public static partial int PosixFadvise(SafeHandle fd, long offset, long length, int advice);

    public const int SEEK_DATA = 3, SEEK_HOLE = 4;
    public const int ENXIO = 6;

    [LibraryImport(Library, EntryPoint = "lseek", SetLastError = true)]
    public static partial long Lseek(SafeHandle fd, long offset, int whence);

    [LibraryImport(Library, EntryPoint = "ftruncate", SetLastError = true)]
    public static partial int Ftruncate(SafeHandle fd, long length);

    // Directory listing: fdopendir takes ownership of the descriptor; closedir closes it.
    [LibraryImport(Library, EntryPoint = "fdopendir", SetLastError = true)]
    public static partial nint Fdopendir(int fd);

    [LibraryImport(Library, EntryPoint = "readdir64", SetLastError = true)]
    public static partial byte* Readdir(nint dir);

    [LibraryImport(Library, EntryPoint = "closedir", SetLastError = true)]
    public static partial int Closedir(nint dir);

    // Copies in the kernel: whole-file and block-range reflinks (XFS, btrfs), and copy_file_range(2).
    public const nuint FICLONE = 0x40049409;
    public const nuint FICLONERANGE = 0x4020940D;
    public const int ENOTTY = 25;
    public const int ENOSPC = 28;

    /// <summary>The argument of FICLONERANGE (struct file_clone_range).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct FileCloneRange
    {
        public long SourceFd;
        public ulong SourceOffset;
        public ulong SourceLength;
        public ulong DestinationOffset;
    }

    [LibraryImport(Library, EntryPoint = "ioctl", SetLastError = true)]
    public static partial int Ioctl(SafeHandle fd, nuint request, nint argument);

    [LibraryImport(Library, EntryPoint = "ioctl", SetLastError = true)]
    public static partial int Ioctl(SafeHandle fd, nuint request, ref FileCloneRange argument);

    [LibraryImport(Library, EntryPoint = "fstatfs", SetLastError = true)]
    public static partial int Fstatfs(SafeHandle fd, [Out] byte[] buffer);

    [LibraryImport(Library, EntryPoint = "copy_file_range", SetLastError = true)]
    public static partial nint CopyFileRange(SafeHandle source, ref long sourceOffset, SafeHandle destination, ref long destinationOffset, nuint length, uint flags);

    // fcntl(2) open file description locks, and the lock types of struct flock.
    public const int F_OFD_SETLK = 37;
    public const short F_RDLCK = 0;
    public const short F_WRLCK = 1;
    public const short F_UNLCK = 2;

    /// <summary>A struct flock on a 64-bit Linux (l_type, l_whence, l_start, l_len, l_pid).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct FileLock
    {
        public short Type;
        public short Whence;
        public long Start;
        public long Length;
        public int ProcessId;
    }

    [LibraryImport(Library, EntryPoint = "fcntl", SetLastError = true)]
    public static partial int FcntlLock(SafeHandle fd, int command, ref FileLock fileLock);

    public const int F_DUPFD_CLOEXEC = 1030;

    [LibraryImport(Library, EntryPoint = "fcntl", SetLastError = true)]
    public static partial int FcntlDuplicate(SafeHandle fd, int command, int lowest);

    /// <summary>Offset of d_name in glibc's struct dirent64 (d_ino 8, d_off 8, d_reclen 2, d_type 1).</summary>
    public const int DirentNameOffset = 19;
}
