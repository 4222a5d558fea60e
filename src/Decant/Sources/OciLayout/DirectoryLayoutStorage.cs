using Decant.Interop;
using Decant.Model;
using Microsoft.Win32.SafeHandles;

namespace Decant.Sources.OciLayout;

/// <summary>
/// An OCI image layout kept as a directory on disk. Every file read from it (oci-layout,
/// index.json, blobs) must be a regular file: it is opened without following a symlink and without
/// blocking, and its type is checked on the open descriptor, so a FIFO cannot hang the export and a
/// name swapped after a check cannot be read in its place.
/// </summary>
internal sealed class DirectoryLayoutStorage(string root) : ILayoutStorage
{
    private const int ReadBufferSize = 64 * 1024;

    public ValueTask<long?> TryGetLengthAsync(string path, CancellationToken cancellationToken)
    {
        using var handle = TryOpenRegular(path, out long length);
        return ValueTask.FromResult<long?>(handle is null ? null : length);
    }

    public ValueTask<Stream?> TryOpenAsync(string path, CancellationToken cancellationToken)
    {
        var handle = TryOpenRegular(path, out _);
        return ValueTask.FromResult<Stream?>(handle is null ? null : new FileStream(handle, FileAccess.Read, ReadBufferSize));
    }

    /// <summary>The open file, null when nothing is there; anything but a regular file is an invalid layout.</summary>
    private SafeFileHandle? TryOpenRegular(string path, out long length)
    {
        length = 0;
        string full = Path.Combine(root, path);
        var handle = Posix.TryOpenForReading(full, noFollow: true, out var status, out int errno);
        if (handle is null)
        {
            return errno switch
            {
                LibC.ENOENT or LibC.ENOTDIR => null,
                LibC.ELOOP => throw NotRegular(full, "symbolic link"),
                _ => throw Posix.Failure("open", full, errno),
            };
        }
        if ((status.Mode & LibC.S_IFMT) != LibC.S_IFREG)
        {
            handle.Dispose();
            throw NotRegular(full, Posix.FileTypeName(status.Mode));
        }
        length = (long)status.Size;
        return handle;
    }

    private static DecantException NotRegular(string path, string what) =>
        new(DecantErrorKind.InvalidManifest, $"{path} is a {what}, not a regular file: an image layout's files must be regular files");

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
