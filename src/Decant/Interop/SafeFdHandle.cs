using Microsoft.Win32.SafeHandles;

namespace Decant.Interop;

/// <summary>
/// Owns one Linux file descriptor (a directory, an O_PATH handle, a special file) and closes it
/// once. Regular files that are written use <see cref="SafeFileHandle"/> instead, so they work
/// with <see cref="RandomAccess"/>.
/// </summary>
internal sealed class SafeFdHandle : SafeHandleMinusOneIsInvalid
{
    /// <summary>The pseudo-descriptor that makes *at calls resolve from the working directory.</summary>
    public static SafeFdHandle CurrentDirectory { get; } = new(LibC.AT_FDCWD, ownsHandle: false);

    public SafeFdHandle()
        : base(ownsHandle: true)
    {
    }

    public SafeFdHandle(int fd, bool ownsHandle = true)
        : base(ownsHandle)
    {
        SetHandle(fd);
    }

    /// <summary>The descriptor number; only valid while this handle is alive.</summary>
    public int Number => (int)handle;

    protected override bool ReleaseHandle() => LibC.Close((int)handle) == 0;
}
