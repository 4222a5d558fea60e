using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;

namespace Decant.Tests.Support;

/// <summary>The filesystems a <see cref="LoopFilesystem"/> can hold.</summary>
public enum LoopFilesystemKind
{
    /// <summary>ext4 (<c>mkfs.ext4 -m 0</c>: no blocks reserved for root, so a root test fills it as anyone would): no reflinks, so content is copied.</summary>
    Ext4,
    /// <summary>XFS with reflinks (<c>mkfs.xfs -m reflink=1</c>): <c>FICLONE</c> shares extents.</summary>
    XfsReflink,
}

/// <summary>
/// A real filesystem of a chosen size for one test: a sparse file, formatted, mounted through a
/// loop device at a fresh temporary directory. Disposing unmounts it (lazily when it is busy) and
/// deletes the file and the mount point; mounts left by a test process that died first are swept
/// when the next one is created. Needs root, <c>mount</c>, and the filesystem's mkfs (e2fsprogs,
/// xfsprogs): without them creating one fails, with an install hint.
/// </summary>
public sealed class LoopFilesystem : IAsyncDisposable
{
    private const string Prefix = "decant-loop-";
    private readonly string _directory;
    private bool _mounted;

    private LoopFilesystem(string directory)
    {
        _directory = directory;
    }

    /// <summary>Where the filesystem is mounted.</summary>
    public string MountPoint => Path.Combine(_directory, "mnt");

    /// <summary>The sparse file that holds the filesystem.</summary>
    public string ImageFile => Path.Combine(_directory, "fs.img");

    /// <summary>A path inside the mounted filesystem.</summary>
    public string Combine(params string[] parts) => Path.Combine([MountPoint, .. parts]);

    /// <summary>Makes, formats and mounts a filesystem of <paramref name="kind"/> holding <paramref name="sizeBytes"/> bytes.</summary>
    public static async Task<LoopFilesystem> CreateAsync(LoopFilesystemKind kind, long sizeBytes, CancellationToken cancellationToken)
    {
        await SweepDeadAsync(cancellationToken).ConfigureAwait(false);
        // The parent is the system temporary directory, on the host's own filesystem; the name
        // carries this process's id so that a later process can tell a leftover from a live one.
        string directory = Directory.CreateTempSubdirectory(Prefix + Environment.ProcessId.ToString(CultureInfo.InvariantCulture) + "-").FullName;
        var filesystem = new LoopFilesystem(directory);
        try
        {
            Directory.CreateDirectory(filesystem.MountPoint);
            using (var image = File.Create(filesystem.ImageFile))
            {
                image.SetLength(sizeBytes);
            }
            string[] mkfs = kind switch
            {
                LoopFilesystemKind.Ext4 => ["mkfs.ext4", "-q", "-F", "-m", "0", filesystem.ImageFile],
                LoopFilesystemKind.XfsReflink => ["mkfs.xfs", "-q", "-f", "-m", "reflink=1", filesystem.ImageFile],
                _ => throw new ArgumentOutOfRangeException(nameof(kind)),
            };
            await RunToolAsync(mkfs[0], kind == LoopFilesystemKind.Ext4 ? "e2fsprogs" : "xfsprogs", mkfs[1..], cancellationToken).ConfigureAwait(false);
            await RunToolAsync("mount", "mount", ["-o", "loop", filesystem.ImageFile, filesystem.MountPoint], cancellationToken).ConfigureAwait(false);
            filesystem._mounted = true;
            return filesystem;
        }
        catch
        {
            await filesystem.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// The bytes in use, as <c>df</c> counts them (blocks minus free blocks, from statvfs), after
    /// <c>syncfs</c> so that delayed allocations are counted.
    /// </summary>
    public async Task<long> UsedBytesAsync(CancellationToken cancellationToken)
    {
        await Tools.RunCheckedAsync("sync", ["-f", MountPoint], cancellationToken).ConfigureAwait(false);
        var drive = new DriveInfo(MountPoint);
        return drive.TotalSize - drive.TotalFreeSpace;
    }

    /// <summary>The bytes an unprivileged writer can still use (statvfs's available blocks).</summary>
    public long AvailableBytes => new DriveInfo(MountPoint).AvailableFreeSpace;

    /// <summary>Unmounts the filesystem (lazily when a process still uses it) and deletes the file and the mount point.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_mounted)
        {
            await UnmountAsync(MountPoint).ConfigureAwait(false);
            _mounted = false;
        }
        Directory.Delete(_directory, recursive: true);
    }

    /// <summary>
    /// Unmounts <paramref name="mountPoint"/>: a few plain attempts (a process that just exited may
    /// still hold it for a moment), then a lazy one, which detaches it at once and frees the loop
    /// device when its last user lets go. <c>mount -o loop</c> sets autoclear, so the loop device
    /// goes with the mount.
    /// </summary>
    private static async Task UnmountAsync(string mountPoint)
    {
        for (int attempt = 0; attempt < 3; attempt++)
        {
            var result = await Tools.RunAsync("umount", [mountPoint], CancellationToken.None).ConfigureAwait(false);
            if (result.ExitCode == 0 || !IsMounted(mountPoint))
            {
                return;
            }
            await Task.Delay(TimeSpan.FromMilliseconds(100 << attempt)).ConfigureAwait(false);
        }
        await Tools.RunCheckedAsync("umount", ["-l", mountPoint], CancellationToken.None).ConfigureAwait(false);
    }

    /// <summary>Unmounts and removes what test processes that are no longer running left behind.</summary>
    private static async Task SweepDeadAsync(CancellationToken cancellationToken)
    {
        foreach (string directory in Directory.EnumerateDirectories(Path.GetTempPath(), Prefix + "*"))
        {
            string[] parts = Path.GetFileName(directory)[Prefix.Length..].Split('-');
            if (!int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int pid) || IsRunning(pid))
            {
                continue;
            }
            string mountPoint = Path.Combine(directory, "mnt");
            if (IsMounted(mountPoint))
            {
                await Tools.RunCheckedAsync("umount", ["-l", mountPoint], cancellationToken).ConfigureAwait(false);
            }
            Directory.Delete(directory, recursive: true);
        }
    }

    private static bool IsRunning(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    /// <summary>Whether <paramref name="mountPoint"/> is a mount point in this mount namespace (field 5 of /proc/self/mountinfo).</summary>
    private static bool IsMounted(string mountPoint) =>
        File.ReadLines("/proc/self/mountinfo").Any(line => line.Split(' ')[4] == mountPoint);

    private static async Task RunToolAsync(string tool, string package, string[] arguments, CancellationToken cancellationToken)
    {
        try
        {
            await Tools.RunCheckedAsync(tool, arguments, cancellationToken).ConfigureAwait(false);
        }
        catch (Win32Exception error)
        {
            throw new InvalidOperationException($"{tool} is not installed; install it with: apt-get install -y {package} (or run scripts/install-test-tools.sh)", error);
        }
    }
}
