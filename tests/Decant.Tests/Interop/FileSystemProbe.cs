using Decant.Interop;

namespace Decant.Tests.Interop;

/// <summary>Reads what is really on disk, never following a final symlink: lstat, readlink, getxattr.</summary>
internal static class FileSystemProbe
{
    public static LibC.Statx Stat(string path) => Posix.StatAt(SafeFdHandle.CurrentDirectory, path, path);

    public static uint FileType(string path) => Stat(path).Mode & LibC.S_IFMT;

    public static uint Permissions(string path) => Stat(path).Mode & 0xFFFu;

    public static string ReadLink(string path) => Posix.ReadLinkAt(SafeFdHandle.CurrentDirectory, path, path);

    public static byte[]? Xattr(string path, string name) => Posix.GetXattrNoFollow(path, name);

    public static IReadOnlyList<string> XattrNames(string path) => Posix.ListXattrsNoFollow(path);

    public static void SetPermissions(string path, uint mode) =>
        Posix.Check(LibC.FchmodAt(SafeFdHandle.CurrentDirectory, path, mode, 0), "chmod", path);

    public static bool Exists(string path) =>
        Posix.TryOpenAt(SafeFdHandle.CurrentDirectory, path, LibC.O_PATH | LibC.O_NOFOLLOW, 0, out _) is { } handle && Dispose(handle);

    private static bool Dispose(SafeFdHandle handle)
    {
        handle.Dispose();
        return true;
    }
}
