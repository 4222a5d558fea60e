using Decant.Tests.Support;
using Xunit.Sdk;

namespace Decant.Tests.Differential;

/// <summary>
/// Decant's flattened tar (<c>--format tar</c>) must say exactly what its directory export holds:
/// every entry's type, mode, owner, size, content sha256, link target, device numbers, xattrs
/// (<c>SCHILY.xattr.*</c>, byte for byte), mtime and hardlink group (from <c>1</c> entries).
/// The directory export is itself proven equal to <c>umoci unpack</c> by <see cref="RootDifferentialTests"/>.
/// </summary>
[Collection(UsesRealImages.Name)]
public sealed class FlattenedTarTests(RealImages images) : RealImagesTest(images)
{
    [Theory]
    [InlineData("umoci-multi")]
    [InlineData("buildah-opaque")]
    public async Task TarEntriesMatchTheDirectoryExport(string image)
    {
        string reference = $"oci:{Path.Combine(Images.CorpusDirectory, image)}:{RealImages.Tag}";
        var directory = await DecantRuns.ExportDirectoryAsync(Images, reference, Token);
        var tar = await FlattenedTarSnapshot.ReadAsync(await DecantRuns.ExportTarAsync(Images, reference, Token), Token);

        AssertSameEntries(directory.Entries.Values, tar);
        Assert.Contains(tar, entry => entry.HardlinkGroup.Count > 1);
    }

    [Fact]
    public async Task ComparisonSeesBinaryXattrsDevicesAndHardlinkGroups()
    {
        var tar = await FlattenedTarSnapshot.ReadAsync(
            await DecantRuns.ExportTarAsync(Images, $"oci:{Images.UmociMulti}:{RealImages.Tag}", Token), Token);
        var byPath = tar.ToDictionary(entry => entry.Path, StringComparer.Ordinal);

        // 0xff and 0x80 are not UTF-8: only the raw PAX scan keeps them.
        Assert.Equal("00ff7f80", byPath["/data/xattrs/user-binary"].Xattrs["user.decant.binary"]);
        Assert.Equal((SnapshotEntryType.BlockDevice, 7u, 7u), (byPath["/data/special/loop7"].Type, byPath["/data/special/loop7"].DeviceMajor, byPath["/data/special/loop7"].DeviceMinor));
        Assert.Equal(["/data/hardlinks/later-link", "/data/hardlinks/lower-target"], byPath["/data/hardlinks/later-link"].HardlinkGroup);
        Assert.Equal(byPath["/data/hardlinks/lower-target"].ContentSha256, byPath["/data/hardlinks/later-link"].ContentSha256);
        Assert.Equal(SnapshotEntryType.Directory, byPath["/"].Type);
    }

    /// <summary>Fails listing every entry that is described differently (or only) on one side.</summary>
    internal static void AssertSameEntries(IEnumerable<TreeSnapshotEntry> directory, IEnumerable<TreeSnapshotEntry> tar)
    {
        var expected = directory.Select(Describe).ToList();
        var actual = tar.Select(Describe).ToList();
        var onlyDirectory = expected.Except(actual, StringComparer.Ordinal).Select(line => "directory: " + line);
        var onlyTar = actual.Except(expected, StringComparer.Ordinal).Select(line => "tar:       " + line);
        var differences = onlyDirectory.Concat(onlyTar).ToList();
        if (differences.Count > 0)
        {
            throw new XunitException($"The tar and the directory export differ ({expected.Count} vs {actual.Count} entries):\n" + string.Join('\n', differences.Take(100)));
        }
    }

    /// <summary>Every field of an entry on one line, so two descriptions are equal exactly when the entries are.</summary>
    private static string Describe(TreeSnapshotEntry entry) =>
        $"{entry.Path}: {entry.Type} {entry.OctalMode} {entry.Uid}:{entry.Gid} size {entry.Size} sha256 {entry.ContentSha256 ?? "-"} " +
        $"link {entry.SymlinkTarget ?? "-"} dev {entry.DeviceMajor}:{entry.DeviceMinor} mtime {entry.ModificationTime} " +
        $"xattrs {{{string.Join(", ", entry.Xattrs.OrderBy(x => x.Key, StringComparer.Ordinal).Select(x => $"{x.Key}={x.Value}"))}}} " +
        $"hardlinks [{string.Join(", ", entry.HardlinkGroup)}]";
}
