using System.Formats.Tar;
using System.Security.Cryptography;
using System.Text;
using Decant.Tests.Support;
using Timestamp = Decant.Model.Timestamp;

namespace Decant.Tests.Differential;

/// <summary>
/// Describes a flattened tar the way <see cref="TreeSnapshot"/> describes a directory tree, so the
/// two can be compared entry by entry: System.Formats.Tar reads every header and content, and
/// <see cref="RawTarScan"/> supplies the exact bytes of names, link names and xattrs. A hardlink (<c>1</c>) entry takes its
/// target's metadata and content, and the target plus every entry linking to it form one
/// hardlink group, as names sharing an inode do on disk.
/// </summary>
internal static class FlattenedTarSnapshot
{
    public static async Task<IReadOnlyList<TreeSnapshotEntry>> ReadAsync(string tarPath, CancellationToken cancellationToken)
    {
        var raw = await RawTarScan.ReadAsync(tarPath, cancellationToken);
        var entries = new List<TreeSnapshotEntry>();
        var linksTo = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        var file = File.OpenRead(tarPath);
        await using (file.ConfigureAwait(false))
        {
            var reader = new TarReader(file);
            await using (reader.ConfigureAwait(false))
            {
                int index = 0;
                while (await reader.GetNextEntryAsync(copyData: false, cancellationToken) is { } entry)
                {
                    if (index >= raw.Count)
                    {
                        throw new InvalidDataException($"{tarPath}: System.Formats.Tar found more entries than the raw scan ({raw.Count})");
                    }
                    var rawEntry = raw[index++];
                    var xattrs = CheckedXattrs(entry, rawEntry.Xattrs, tarPath);
                    string path = SnapshotPathOf(rawEntry.Name);
                    if (entry.EntryType == TarEntryType.HardLink)
                    {
                        string target = SnapshotPathOf(rawEntry.LinkName);
                        if (!linksTo.TryGetValue(target, out var links))
                        {
                            linksTo[target] = links = [];
                        }
                        links.Add(path);
                        continue;
                    }
                    entries.Add(await DescribeAsync(entry, path, rawEntry.LinkName, xattrs, cancellationToken));
                }
                if (index != raw.Count)
                {
                    throw new InvalidDataException($"{tarPath}: the raw scan found {raw.Count} entries, System.Formats.Tar {index}");
                }
            }
        }
        return WithHardlinkGroups(entries, linksTo, tarPath);
    }

    /// <summary>The snapshot path of a tar name: <c>./</c> is <c>/</c>, <c>a/b/</c> is <c>/a/b</c>.</summary>
    private static string SnapshotPathOf(ReadOnlySpan<byte> tarName)
    {
        var name = tarName.StartsWith("./"u8) ? tarName[2..] : tarName;
        return "/" + SnapshotPath.Display(name.TrimEnd((byte)'/'));
    }

    /// <summary>
    /// The raw xattr bytes as lower-case hex, after checking that System.Formats.Tar saw as many, and
    /// (as far as its UTF-8 decoding can tell) the same names and values.
    /// </summary>
    private static SortedDictionary<string, string> CheckedXattrs(TarEntry entry, IReadOnlyDictionary<string, byte[]> raw, string tarPath)
    {
        var decoded = LayerEntries.XattrsOf(entry);
        bool same = decoded.Count == raw.Count && raw.Where(x => !x.Key.Contains('\\', StringComparison.Ordinal))
            .All(x => decoded.TryGetValue(x.Key, out string? value) && value == Encoding.UTF8.GetString(x.Value));
        if (!same)
        {
            throw new InvalidDataException($"{tarPath}: {entry.Name}: the raw PAX scan and System.Formats.Tar disagree on the xattrs");
        }
        return new SortedDictionary<string, string>(raw.ToDictionary(x => x.Key, x => Convert.ToHexStringLower(x.Value)), StringComparer.Ordinal);
    }

    private static async Task<TreeSnapshotEntry> DescribeAsync(TarEntry entry, string path, byte[] linkName, SortedDictionary<string, string> xattrs, CancellationToken cancellationToken)
    {
        var type = entry.EntryType switch
        {
            TarEntryType.RegularFile => SnapshotEntryType.RegularFile,
            TarEntryType.Directory => SnapshotEntryType.Directory,
            TarEntryType.SymbolicLink => SnapshotEntryType.Symlink,
            TarEntryType.CharacterDevice => SnapshotEntryType.CharDevice,
            TarEntryType.BlockDevice => SnapshotEntryType.BlockDevice,
            TarEntryType.Fifo => SnapshotEntryType.Fifo,
            _ => throw new InvalidDataException($"{entry.Name}: unexpected entry type {entry.EntryType} in a flattened tar"),
        };
        bool isDevice = type is SnapshotEntryType.CharDevice or SnapshotEntryType.BlockDevice;
        return new TreeSnapshotEntry
        {
            Path = path,
            Type = type,
            Mode = (uint)entry.Mode,
            Uid = entry.Uid,
            Gid = entry.Gid,
            // As on disk: a symlink's size is its target's length in bytes; directories count 0.
            Size = type switch
            {
                SnapshotEntryType.RegularFile => entry.Length,
                SnapshotEntryType.Symlink => linkName.Length,
                _ => 0,
            },
            ContentSha256 = type == SnapshotEntryType.RegularFile ? await HashAsync(entry, cancellationToken) : null,
            SymlinkTarget = type == SnapshotEntryType.Symlink ? SnapshotPath.Display(linkName) : null,
            DeviceMajor = isDevice ? (uint)((PosixTarEntry)entry).DeviceMajor : 0,
            DeviceMinor = isDevice ? (uint)((PosixTarEntry)entry).DeviceMinor : 0,
            Xattrs = xattrs,
            ModificationTime = TimestampOf(entry.ModificationTime),
        };
    }

    private static async Task<string> HashAsync(TarEntry entry, CancellationToken cancellationToken) =>
        Convert.ToHexStringLower(entry.DataStream is null ? SHA256.HashData([]) : await SHA256.HashDataAsync(entry.DataStream, cancellationToken));

    /// <summary>System.Formats.Tar keeps times in 100 ns ticks; the corpus times are whole seconds.</summary>
    private static Timestamp TimestampOf(DateTimeOffset time)
    {
        long ticks = (time - DateTimeOffset.UnixEpoch).Ticks;
        long seconds = Math.DivRem(ticks, TimeSpan.TicksPerSecond, out long remainder);
        if (remainder < 0)
        {
            seconds--;
            remainder += TimeSpan.TicksPerSecond;
        }
        return new Timestamp(seconds, (uint)(remainder * 100));
    }

    private static List<TreeSnapshotEntry> WithHardlinkGroups(List<TreeSnapshotEntry> entries, Dictionary<string, List<string>> linksTo, string tarPath)
    {
        var byPath = entries.ToDictionary(e => e.Path, StringComparer.Ordinal);
        foreach (var (target, links) in linksTo)
        {
            if (!byPath.TryGetValue(target, out var first))
            {
                throw new InvalidDataException($"{tarPath}: hardlinks {string.Join(", ", links)} point to {target}, which no earlier entry wrote");
            }
            List<string> group = [target, .. links];
            group.Sort(StringComparer.Ordinal);
            foreach (string path in group)
            {
                byPath[path] = first with { Path = path, HardlinkGroup = group };
            }
        }
        return [.. byPath.Values.OrderBy(e => e.Path, StringComparer.Ordinal)];
    }
}
