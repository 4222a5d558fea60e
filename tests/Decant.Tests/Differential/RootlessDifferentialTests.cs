using System.Text.Json;
using Decant.Tests.Support;

namespace Decant.Tests.Differential;

/// <summary>
/// The differential test without root: the Decant CLI (<c>decant export --rootless</c>) and
/// <c>umoci unpack --rootless</c> both run as the unprivileged user 65534 (umoci's --rootless run as
/// root would leave every file owned by root, which proves nothing about owners), and their trees
/// must be identical in every field, owners and the <c>user.rootlesscontainers</c> xattr included.
/// The CLI is the <c>decant.dll</c> built next to the tests (the test project references
/// Decant.Cli), run with <c>dotnet</c>; each run gets a copy of the image in a workspace the
/// unprivileged user owns.
/// </summary>
/// <remarks>
/// The one documented difference is device nodes, which an unprivileged user cannot create: Decant
/// leaves them out and reports how many it skipped, while umoci writes an empty regular file in
/// their place. Exactly those paths (the device nodes of a root unpack) may be missing on Decant's side.
/// </remarks>
[Collection(UsesRealImages.Name)]
public sealed class RootlessDifferentialTests(RealImages images) : RealImagesTest(images)
{
    private const string OwnerXattr = "user.rootlesscontainers";

    /// <summary>Decant exports <paramref name="decantImage"/>; umoci unpacks <paramref name="umociImage"/> (the gzip original of a zstd copy).</summary>
    [Theory]
    [InlineData("umoci-multi", "umoci-multi")]
    [InlineData("buildah-opaque", "buildah-opaque")]
    [InlineData("umoci-multi-zstd", "umoci-multi")]
    public async Task UnprivilegedDecantExportEqualsUnprivilegedUmociUnpack(string decantImage, string umociImage)
    {
        var user = await UnprivilegedUser.CreateAsync(Images, Token);
        string decantLayout = await user.CopyInAsync(Path.Combine(Images.CorpusDirectory, decantImage), "decant-layout", Token);
        string umociLayout = await user.CopyInAsync(Path.Combine(Images.CorpusDirectory, umociImage), "umoci-layout", Token);
        string decantRootfs = Path.Combine(user.Workspace, "decant-rootfs");
        string umociBundle = Path.Combine(user.Workspace, "umoci-bundle");

        var export = await user.RunAsync("dotnet",
            [Path.Combine(AppContext.BaseDirectory, "decant.dll"), "export", $"oci:{decantLayout}:{RealImages.Tag}", "-o", decantRootfs, "--rootless", "--progress", "json"], Token);
        await user.RunAsync("umoci", ["unpack", "--rootless", "--image", $"{umociLayout}:{RealImages.Tag}", umociBundle], Token);
        var decant = await TreeSnapshot.CaptureAsync(decantRootfs, cancellationToken: Token);
        var umoci = await TreeSnapshot.CaptureAsync(Path.Combine(umociBundle, "rootfs"), cancellationToken: Token);
        var asRoot = await DecantRuns.UmociUnpackAsync(Images, Path.Combine(Images.CorpusDirectory, umociImage), RealImages.Tag, Token);

        var devices = asRoot.Entries.Values.Where(e => e.Type is SnapshotEntryType.CharDevice or SnapshotEntryType.BlockDevice).Select(e => e.Path).ToList();
        var options = new SnapshotCompareOptions();
        foreach (string device in devices)
        {
            // Glob metacharacters would widen the ignore; the corpus' device paths have none.
            Assert.DoesNotContain(device, c => c is '*' or '?');
            options.Ignore(device, SnapshotField.Presence);
        }
        TreeSnapshotAssert.Equal(umoci, decant, options);

        // The documented difference, exactly: Decant skipped and counted the devices, umoci wrote empty files.
        Assert.Equal(devices.Count, SkippedDevices(export.StandardError));
        Assert.All(devices, device => Assert.DoesNotContain(device, decant.Entries.Keys));
        Assert.All(devices, device => Assert.Equal((SnapshotEntryType.RegularFile, 0L), (umoci[device].Type, umoci[device].Size)));
        // Owners: everything belongs to the invoking user, and the image's owners are in the xattr
        // wherever one can be set (user.* xattrs cannot go on symlinks, so umoci and Decant both leave those out).
        Assert.All(decant.Entries.Values, e => Assert.Equal((UnprivilegedUser.Id, UnprivilegedUser.Id), ((uint)e.Uid, (uint)e.Gid)));
        var ownedByOthers = asRoot.Entries.Values
            .Where(e => (e.Uid != 0 || e.Gid != 0) && e.Type != SnapshotEntryType.Symlink && !devices.Contains(e.Path))
            .Select(e => e.Path);
        Assert.Equal(ownedByOthers, decant.Entries.Values.Where(e => e.Xattrs.ContainsKey(OwnerXattr)).Select(e => e.Path));
    }

    [Fact]
    public async Task RootlessComparisonIsNotVacuous()
    {
        var user = await UnprivilegedUser.CreateAsync(Images, Token);
        string layout = await user.CopyInAsync(Images.UmociMulti, "layout", Token);
        string rootfs = Path.Combine(user.Workspace, "rootfs");
        await user.RunAsync("dotnet", [Path.Combine(AppContext.BaseDirectory, "decant.dll"), "export", $"oci:{layout}:{RealImages.Tag}", "-o", rootfs, "--rootless", "--progress", "none"], Token);
        var decant = await TreeSnapshot.CaptureAsync(rootfs, cancellationToken: Token);

        Assert.Equal(3, decant.Entries.Keys.Count(path => path.StartsWith("/data/xattrs/", StringComparison.Ordinal) && decant[path].Xattrs.Count > 0));
        Assert.Equal("4755", decant["/data/modes/setuid"].OctalMode);
        Assert.Equal(["/data/hardlinks/second", "/data/hardlinks/third"], decant["/data/hardlinks/third"].HardlinkGroup);
        Assert.True(decant["/data/owners/big100000"].Xattrs.ContainsKey(OwnerXattr));
        Assert.DoesNotContain("security.capability", decant["/data/xattrs/capable"].Xattrs.Keys);
    }

    /// <summary>The <c>skippedDevices</c> count of the CLI's JSON summary line on stderr.</summary>
    private static long SkippedDevices(string standardError)
    {
        foreach (string line in standardError.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            using var json = JsonDocument.Parse(line);
            if (json.RootElement.GetProperty("event").GetString() == "summary")
            {
                return json.RootElement.GetProperty("skippedDevices").GetInt64();
            }
        }
        throw new InvalidOperationException("decant printed no JSON summary line:\n" + standardError);
    }
}
