using Decant.Tests.Support;

namespace Decant.Tests.Differential;

/// <summary>
/// The places where umoci 0.4.7's unpack is known to differ from what a layer says, each pinned
/// down on a hand-made layer (the real-tool corpus cannot hold them: umoci's own repack drops
/// empty xattr values and rounds times to whole seconds, and every corpus entry's parents are listed).
/// The comparison ignores exactly these paths and fields, and the test proves the reason for each;
/// everything else in the layer, sub-second and post-2038 times included, must match umoci.
/// </summary>
[Collection(UsesRealImages.Name)]
public sealed class UmociQuirkTests(RealImages images) : RealImagesTest(images)
{
    private static readonly DateTimeOffset LayerTime = DateTimeOffset.FromUnixTimeSeconds(1_700_000_000);

    [Fact]
    public async Task DecantMatchesUmociExceptForItsDocumentedQuirks()
    {
        var layer = new LayerTar()
            .Dir("quirks", mtime: LayerTime)
            .File("quirks/empty-xattr", "e", mtime: LayerTime, xattrs: new() { ["user.empty"] = "", ["user.kept"] = "v" })
            .File("quirks/subsecond", "s", mtime: LayerTime.AddTicks(1_234_567))
            .Dir("quirks/subsecond-dir", mtime: LayerTime.AddTicks(5_000_000))
            .File("quirks/after-2038", "f", mtime: new DateTimeOffset(2100, 1, 1, 0, 0, 0, TimeSpan.Zero))
            .File("implicit/parent/child.txt", "c", mtime: LayerTime.AddDays(1))
            .ToArray();
        string layout = Path.Combine(Images.NewScratchDirectory("quirks"), "layout");
        string reference = SyntheticImage.WriteLayout(layout, [layer]);

        long unpackStarted = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var umoci = await DecantRuns.UmociUnpackAsync(Images, layout, SyntheticImage.DefaultTag, Token);
        long unpackEnded = DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 1;
        var decant = await DecantRuns.ExportDirectoryAsync(Images, reference, Token);

        // Quirk 1: implicit parent directories. No entry lists /implicit or /implicit/parent, so their
        // mtime is not in the image: umoci creates them at unpack time (wall clock), and creating
        // /implicit bumps the root's mtime too, which umoci, unlike for listed entries, does not put
        // back. Decant is deterministic: an implicit directory takes the mtime of the entry that needed
        // it, and an unlisted root the epoch (which is also what umoci leaves when nothing is implicit).
        string[] wallClockDirectories = ["/", "/implicit", "/implicit/parent"];
        Assert.All(wallClockDirectories, path => Assert.InRange(umoci[path].ModificationTime.Seconds, unpackStarted, unpackEnded));
        Assert.Equal(0, decant["/"].ModificationTime.Seconds);
        Assert.All(wallClockDirectories[1..], path => Assert.Equal(LayerTime.AddDays(1).ToUnixTimeSeconds(), decant[path].ModificationTime.Seconds));
        // Quirk 2: umoci drops an xattr whose value is empty; Decant keeps it (an empty value is valid on Linux).
        Assert.False(umoci["/quirks/empty-xattr"].Xattrs.ContainsKey("user.empty"));
        Assert.Equal("", decant["/quirks/empty-xattr"].Xattrs["user.empty"]);

        var options = new SnapshotCompareOptions();
        foreach (string path in wallClockDirectories)
        {
            options.Ignore(path, SnapshotField.Mtime);
        }
        // The options can only ignore an xattr name everywhere, so the empty xattr is left in and
        // must be the one remaining difference, exactly.
        Assert.Equal(["/quirks/empty-xattr: xattr user.empty (none) vs "], TreeSnapshot.Diff(umoci, decant, options));

        // Not quirks of umoci 0.4.7's unpack: sub-second and post-2038 times come out exactly, on both sides.
        Assert.Equal("1700000000.123456700", decant["/quirks/subsecond"].ModificationTime.ToString());
        Assert.Equal("1700000000.500000000", decant["/quirks/subsecond-dir"].ModificationTime.ToString());
        Assert.Equal(4102444800, decant["/quirks/after-2038"].ModificationTime.Seconds);
        Assert.Equal(Convert.ToHexStringLower("v"u8), decant["/quirks/empty-xattr"].Xattrs["user.kept"]);
    }
}
