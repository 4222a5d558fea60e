using System.Globalization;

namespace Decant.Tests.Support;

/// <summary>Compares two <see cref="TreeSnapshot"/>s field by field (see <see cref="TreeSnapshot.Diff"/>).</summary>
internal static class TreeSnapshotDiff
{
    public static List<string> Compare(TreeSnapshot a, TreeSnapshot b, SnapshotCompareOptions options)
    {
        var differences = new List<string>();
        var paths = new SortedSet<string>(a.Entries.Keys, StringComparer.Ordinal);
        paths.UnionWith(b.Entries.Keys);
        foreach (string path in paths)
        {
            var ignored = options.IgnoredFields(path);
            bool inA = a.Entries.TryGetValue(path, out var left);
            bool inB = b.Entries.TryGetValue(path, out var right);
            if (left is null || right is null)
            {
                if (!ignored.HasFlag(SnapshotField.Presence))
                {
                    differences.Add($"{path}: only in {(inA ? "a" : "b")}");
                }
                continue;
            }
            CompareEntries(left, right, ignored, options, differences);
        }
        return differences;
    }

    private static void CompareEntries(TreeSnapshotEntry a, TreeSnapshotEntry b, SnapshotField ignored, SnapshotCompareOptions options, List<string> differences)
    {
        void Check(SnapshotField field, string name, string? left, string? right)
        {
            if (!ignored.HasFlag(field) && !string.Equals(left, right, StringComparison.Ordinal))
            {
                differences.Add($"{a.Path}: {name} {left ?? "(none)"} vs {right ?? "(none)"}");
            }
        }

        Check(SnapshotField.Type, "type", a.Type.ToString(), b.Type.ToString());
        Check(SnapshotField.Mode, "mode", a.OctalMode, b.OctalMode);
        Check(SnapshotField.Uid, "uid", Number(a.Uid), Number(b.Uid));
        Check(SnapshotField.Gid, "gid", Number(a.Gid), Number(b.Gid));
        Check(SnapshotField.Size, "size", Number(a.Size), Number(b.Size));
        Check(SnapshotField.Content, "sha256", a.ContentSha256, b.ContentSha256);
        Check(SnapshotField.SymlinkTarget, "symlink target", a.SymlinkTarget, b.SymlinkTarget);
        Check(SnapshotField.Device, "device", $"{a.DeviceMajor}:{a.DeviceMinor}", $"{b.DeviceMajor}:{b.DeviceMinor}");
        Check(SnapshotField.Mtime, "mtime", a.ModificationTime.ToString(), b.ModificationTime.ToString());
        Check(SnapshotField.Hardlinks, "hardlinks", Group(a.HardlinkGroup), Group(b.HardlinkGroup));
        if (!ignored.HasFlag(SnapshotField.Xattrs))
        {
            var names = new SortedSet<string>(a.Xattrs.Keys, StringComparer.Ordinal);
            names.UnionWith(b.Xattrs.Keys);
            foreach (string name in names.Where(name => !options.IsXattrIgnored(name)))
            {
                Check(SnapshotField.Xattrs, "xattr " + name, a.Xattrs.GetValueOrDefault(name), b.Xattrs.GetValueOrDefault(name));
            }
        }
    }

    private static string Number(long value) => value.ToString(CultureInfo.InvariantCulture);

    private static string Group(IReadOnlyList<string> paths) => "[" + string.Join(", ", paths) + "]";
}
