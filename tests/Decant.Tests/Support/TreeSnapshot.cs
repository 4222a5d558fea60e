using System.Security.Cryptography;
using System.Text;
using Decant.Layers;
using Decant.Model;

namespace Decant.Tests.Support;

/// <summary>What <see cref="TreeSnapshot.CaptureAsync"/> records.</summary>
public sealed class TreeSnapshotOptions
{
    /// <summary>Extended attributes left out of the snapshot; by default <c>security.selinux</c>, which the host's labelling sets.</summary>
    public IReadOnlySet<string> DroppedXattrs { get; init; } = new HashSet<string>(StringComparer.Ordinal) { "security.selinux" };

    /// <summary>Whether to hash regular files' contents (on by default).</summary>
    public bool HashContent { get; init; } = true;
}

/// <summary>
/// A record of a directory tree as the filesystem holds it: for every path (symlinks are never
/// followed) its type, mode, owner, size, content hash, symlink target, device numbers, xattrs,
/// mtime and hardlink group. Two snapshots are compared with <see cref="Diff"/>.
/// </summary>
public sealed class TreeSnapshot
{
    private const uint FileTypeMask = 0xF000;
    private const uint PermissionMask = 0xFFF;

    private TreeSnapshot(string root, SortedDictionary<string, TreeSnapshotEntry> entries)
    {
        Root = root;
        Entries = entries;
    }

    /// <summary>The directory the snapshot was taken of.</summary>
    public string Root { get; }

    /// <summary>Every path, keyed and sorted by its snapshot path (<c>/</c> is the root).</summary>
    public IReadOnlyDictionary<string, TreeSnapshotEntry> Entries { get; }

    public TreeSnapshotEntry this[string path] =>
        Entries.TryGetValue(path, out var entry) ? entry : throw new KeyNotFoundException($"{path} is not in the snapshot of {Root}");

    /// <summary>Walks <paramref name="root"/> without following symlinks and records every path below it.</summary>
    public static async Task<TreeSnapshot> CaptureAsync(string root, TreeSnapshotOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new TreeSnapshotOptions();
        var entries = new SortedDictionary<string, TreeSnapshotEntry>(StringComparer.Ordinal);
        var inodes = new Dictionary<(uint, uint, ulong), List<string>>();
        var pending = new Stack<(byte[] FullPath, string SnapshotPath)>();
        pending.Push((Encoding.UTF8.GetBytes(Path.TrimEndingDirectorySeparator(root)), "/"));
        while (pending.Count > 0)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var (fullPath, snapshotPath) = pending.Pop();
            var stat = TreeSnapshotNative.LStat(fullPath);
            var entry = await DescribeAsync(fullPath, snapshotPath, stat, options, cancellationToken).ConfigureAwait(false);
            entries.Add(snapshotPath, entry);
            if (entry.Type == SnapshotEntryType.Directory)
            {
                foreach (byte[] name in TreeSnapshotNative.ReadDirectory(fullPath))
                {
                    string childPath = (snapshotPath == "/" ? "/" : snapshotPath + "/") + SnapshotPath.Display(name);
                    pending.Push(([.. fullPath, (byte)'/', .. name], childPath));
                }
            }
            else if (stat.LinkCount > 1)
            {
                var key = (stat.DevMajor, stat.DevMinor, stat.Inode);
                if (!inodes.TryGetValue(key, out var paths))
                {
                    inodes[key] = paths = [];
                }
                paths.Add(snapshotPath);
            }
        }
        foreach (var paths in inodes.Values.Where(paths => paths.Count > 1))
        {
            paths.Sort(StringComparer.Ordinal);
            foreach (string path in paths)
            {
                entries[path] = entries[path] with { HardlinkGroup = paths };
            }
        }
        return new TreeSnapshot(root, entries);
    }

    private static async Task<TreeSnapshotEntry> DescribeAsync(byte[] fullPath, string snapshotPath, StatxResult stat, TreeSnapshotOptions options, CancellationToken cancellationToken)
    {
        var type = TypeOf(stat.Mode, snapshotPath);
        bool isDevice = type is SnapshotEntryType.CharDevice or SnapshotEntryType.BlockDevice;
        return new TreeSnapshotEntry
        {
            Path = snapshotPath,
            Type = type,
            Mode = stat.Mode & PermissionMask,
            Uid = stat.Uid,
            Gid = stat.Gid,
            Size = type is SnapshotEntryType.RegularFile or SnapshotEntryType.Symlink ? (long)stat.Size : 0,
            ContentSha256 = type == SnapshotEntryType.RegularFile && options.HashContent
                ? await HashContentAsync(fullPath, cancellationToken).ConfigureAwait(false)
                : null,
            SymlinkTarget = type == SnapshotEntryType.Symlink ? SnapshotPath.Display(TreeSnapshotNative.ReadLink(fullPath)) : null,
            DeviceMajor = isDevice ? stat.RdevMajor : 0,
            DeviceMinor = isDevice ? stat.RdevMinor : 0,
            Xattrs = ReadXattrs(fullPath, options.DroppedXattrs),
            ModificationTime = new Timestamp(stat.MtimeSeconds, stat.MtimeNanoseconds),
        };
    }

    private static SnapshotEntryType TypeOf(uint mode, string snapshotPath) => (mode & FileTypeMask) switch
    {
        0x8000 => SnapshotEntryType.RegularFile,
        0x4000 => SnapshotEntryType.Directory,
        0xA000 => SnapshotEntryType.Symlink,
        0x2000 => SnapshotEntryType.CharDevice,
        0x6000 => SnapshotEntryType.BlockDevice,
        0x1000 => SnapshotEntryType.Fifo,
        0xC000 => SnapshotEntryType.Socket,
        _ => throw new IOException($"{snapshotPath}: unknown file type in mode 0x{mode:x}"),
    };

    private static async Task<string> HashContentAsync(byte[] fullPath, CancellationToken cancellationToken)
    {
        using var handle = TreeSnapshotNative.OpenForRead(fullPath);
        var stream = new FileStream(handle, FileAccess.Read, bufferSize: 0);
        await using (stream.ConfigureAwait(false))
        {
            return Convert.ToHexStringLower(await SHA256.HashDataAsync(stream, cancellationToken).ConfigureAwait(false));
        }
    }

    private static SortedDictionary<string, string> ReadXattrs(byte[] fullPath, IReadOnlySet<string> dropped)
    {
        var xattrs = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (byte[] rawName in TreeSnapshotNative.ListXattrs(fullPath))
        {
            string name = SnapshotPath.Display(rawName);
            if (dropped.Contains(name))
            {
                continue;
            }
            byte[]? value = TreeSnapshotNative.GetXattr(fullPath, rawName);
            if (value is not null)
            {
                xattrs[name] = Convert.ToHexStringLower(value);
            }
        }
        return xattrs;
    }

    /// <summary>
    /// The differences between two snapshots, one line each, as <c>PATH: FIELD A vs B</c> or
    /// <c>PATH: only in a</c>, in path order; empty when the trees match under <paramref name="options"/>.
    /// </summary>
    public static IReadOnlyList<string> Diff(TreeSnapshot a, TreeSnapshot b, SnapshotCompareOptions? options = null) =>
        TreeSnapshotDiff.Compare(a, b, options ?? new SnapshotCompareOptions());
}
