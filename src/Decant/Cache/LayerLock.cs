using System.Runtime.InteropServices;
using Decant.Interop;

namespace Decant.Cache;

/// <summary>How a <see cref="LayerLock"/> is held.</summary>
internal enum LockMode
{
    /// <summary>Any number of holders at once, and none in <see cref="Exclusive"/> mode: a layer's record in use by an export.</summary>
    Shared,

    /// <summary>One holder alone: a layer being converted, or removed by prune.</summary>
    Exclusive,
}

/// <summary>
/// A held <c>flock</c> on one of the cache's lock files (<c>locks/HEX</c> for a layer, or
/// <c>gc.lock</c>), on a descriptor of its own (opened by open(2) itself: the runtime's FileShare
/// emulation also uses flock, on the descriptor it opens). The kernel releases it when the process
/// dies. Lock files may be removed by maintenance while it holds them exclusively, so a lock counts
/// only once it is held on the file that is at its path at that moment: one that was removed
/// meanwhile is dropped and the new file locked instead.
/// </summary>
internal sealed class LayerLock : IDisposable
{
    private const int LOCK_SH = 1; // flock(2); LibC has the others
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(20);
    private readonly string _path;
    private SafeFdHandle? _handle;

    private LayerLock(string path) => _path = path;

    /// <summary>The mode held.</summary>
    public LockMode Mode { get; private set; }

    /// <summary>Takes the lock on <paramref name="path"/>, waiting (polling, so that cancellation is prompt) while it conflicts with another holder.</summary>
    public static async Task<LayerLock> TakeAsync(string path, LockMode mode, CancellationToken cancellationToken)
    {
        var taken = new LayerLock(path);
        try
        {
            await taken.AcquireAsync(mode, cancellationToken).ConfigureAwait(false);
            return taken;
        }
        catch
        {
            taken.Dispose();
            throw;
        }
    }

    /// <summary>Takes the lock on <paramref name="path"/> if that is possible at once; null when another holder's mode conflicts.</summary>
    public static LayerLock? TryTake(string path, LockMode mode)
    {
        var taken = new LayerLock(path);
        try
        {
            if (taken.TryAcquire(mode))
            {
                return taken;
            }
        }
        catch
        {
            taken.Dispose();
            throw;
        }
        taken.Dispose();
        return null;
    }

    /// <summary>
    /// Converts the lock to <paramref name="mode"/>, waiting while that conflicts with another
    /// holder. As with flock(2), a conversion is not atomic: an upgrade to
    /// <see cref="LockMode.Exclusive"/> that has to wait holds nothing meanwhile, so whatever the
    /// shared lock protected (a record's presence) must be checked again afterwards. A downgrade never
    /// waits. When the change fails or is cancelled, the lock is released (this object is disposed).
    /// </summary>
    public async Task ChangeAsync(LockMode mode, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_handle is null, this);
        try
        {
            await AcquireAsync(mode, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>Removes the lock file while this (exclusive) lock holds it; later takers create a new one, and a taker that opened this one notices and moves on to the new one.</summary>
    public void DeleteFile()
    {
        if (Mode != LockMode.Exclusive || _handle is null)
        {
            throw new InvalidOperationException("a lock file is removed only under its exclusive lock");
        }
        File.Delete(_path);
    }

    /// <summary>Releases the lock.</summary>
    public void Dispose()
    {
        _handle?.Dispose();
        _handle = null;
    }

    private async Task AcquireAsync(LockMode mode, CancellationToken cancellationToken)
    {
        while (!TryAcquire(mode))
        {
            await Task.Delay(Poll, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>One attempt (LOCK_NB) at holding the lock in <paramref name="mode"/>; false when another holder's mode conflicts.</summary>
    private bool TryAcquire(LockMode mode)
    {
        int operation = (mode == LockMode.Exclusive ? LibC.LOCK_EX : LOCK_SH) | LibC.LOCK_NB;
        while (true)
        {
            _handle ??= Posix.OpenAt(SafeFdHandle.CurrentDirectory, _path, LibC.O_RDWR | LibC.O_CREAT, 0x1A4, _path);
            if (LibC.Flock(_handle, operation) == 0)
            {
                if (IsAtPath(_handle))
                {
                    Mode = mode;
                    return true;
                }
                // Removed (by maintenance, under its exclusive lock) after it was opened: the lock that counts is the new file's.
                Dispose();
                continue;
            }
            int errno = Marshal.GetLastPInvokeError();
            if (errno == LibC.EWOULDBLOCK)
            {
                return false;
            }
            if (errno != LibC.EINTR)
            {
                throw Posix.Failure("flock", _path, errno);
            }
        }
    }

    /// <summary>Whether the descriptor's file is still the one at the lock's path (same device and inode).</summary>
    private unsafe bool IsAtPath(SafeFdHandle handle)
    {
        var held = Posix.Stat(handle, _path);
        LibC.Statx current;
        return LibC.StatxAt(SafeFdHandle.CurrentDirectory, _path, LibC.AT_SYMLINK_NOFOLLOW, LibC.STATX_BASIC_STATS, &current) == 0
            && current.Inode == held.Inode && current.DevMajor == held.DevMajor && current.DevMinor == held.DevMinor;
    }
}
