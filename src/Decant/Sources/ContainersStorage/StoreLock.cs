using Decant.Interop;
using Decant.Model;
using Microsoft.Win32.SafeHandles;

namespace Decant.Sources.ContainersStorage;

/// <summary>
/// A read lock on one of a store's lock files (<c>storage.lock</c>, <c>overlay-layers/layers.lock</c>,
/// <c>overlay-images/images.lock</c>), compatible with containers/storage's Go <c>lockfile</c>
/// package: a read lock is an <c>fcntl</c> record lock of type <c>F_RDLCK</c> over the whole file,
/// which podman's writers (<c>F_WRLCK</c>) wait for, and which waits for them. Decant takes it as an
/// open file description lock (<c>F_OFD_SETLK</c>): the kernel makes OFD and classic record locks
/// conflict with each other, and an OFD lock belongs to its descriptor, not to the process, so no
/// other descriptor of the same file closed elsewhere in the process drops it.
/// </summary>
internal sealed class StoreLock : IDisposable
{
    /// <summary>How often a lock held for writing is tried again.</summary>
    private static readonly TimeSpan RetryInterval = TimeSpan.FromMilliseconds(25);

    private readonly SafeFileHandle? _file;

    private StoreLock(SafeFileHandle? file)
    {
        _file = file;
    }

    /// <summary>
    /// Takes a read lock on <paramref name="path"/>, waiting while a writer holds it, up to
    /// <paramref name="timeout"/>; says once through <paramref name="notify"/> that it waits. A lock
    /// file that does not exist (a store no podman has written to since it was made) needs no lock.
    /// </summary>
    public static async Task<StoreLock> AcquireReadAsync(string path, string storeName, TimeSpan timeout, Action<string>? notify, CancellationToken cancellationToken)
    {
        SafeFileHandle file;
        try
        {
            file = File.OpenHandle(path, FileMode.Open, FileAccess.Read);
        }
        catch (FileNotFoundException)
        {
            return new StoreLock(null);
        }
        catch (DirectoryNotFoundException)
        {
            return new StoreLock(null);
        }
        catch (UnauthorizedAccessException error)
        {
            throw new DecantException(DecantErrorKind.IOError, $"{storeName}: cannot open the lock file {path}: {error.Message}", error);
        }
        try
        {
            var started = TimeProvider.System.GetTimestamp();
            bool announced = false;
            while (!TryLock(file, path))
            {
                var waited = TimeProvider.System.GetElapsedTime(started);
                if (waited >= timeout)
                {
                    throw new DecantException(DecantErrorKind.IOError,
                        $"{storeName}: {path} is still locked for writing (another podman, buildah or CRI-O is changing the store) after {Duration(timeout)}; try again when it is done");
                }
                if (!announced)
                {
                    notify?.Invoke($"{storeName}: waiting for {path}: the store is locked for writing by another process (waiting up to {Duration(timeout)})");
                    announced = true;
                }
                await Task.Delay(RetryInterval, cancellationToken).ConfigureAwait(false);
            }
            return new StoreLock(file);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    private static bool TryLock(SafeFileHandle file, string path)
    {
        var request = new LibC.FileLock { Type = LibC.F_RDLCK, Whence = 0, Start = 0, Length = 0 };
        if (LibC.FcntlLock(file, LibC.F_OFD_SETLK, ref request) == 0)
        {
            return true;
        }
        int errno = System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
        return errno is LibC.EWOULDBLOCK or LibC.EACCES ? false : throw Posix.Failure("fcntl(F_OFD_SETLK)", path, errno);
    }

    private static string Duration(TimeSpan span) =>
        span.TotalSeconds >= 1 ? $"{span.TotalSeconds:0.#} s" : $"{span.TotalMilliseconds:0} ms";

    /// <summary>Lets go of the lock (closing the descriptor releases it).</summary>
    public void Dispose() => _file?.Dispose();
}
