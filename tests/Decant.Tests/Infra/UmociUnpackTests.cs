using System.Security.Cryptography;
using System.Text;
using Decant.Tests.Support;

namespace Decant.Tests.Infra;

/// <summary>
/// The reference unpacker (umoci) over the corpus, checked with <see cref="TreeSnapshot"/>: the
/// layered result holds what the build script promised, and copies of one image unpack to equal trees.
/// </summary>
[Collection(UsesRealImages.Name)]
public sealed class UmociUnpackTests(RealImages images) : RealImagesTest(images)
{
    private string Layout(string name) => name == "sample" ? Images.SampleBusybox : Path.Combine(Images.CorpusDirectory, name);

    private async Task<TreeSnapshot> UnpackAndSnapshotAsync(string layout, bool rootless = false)
    {
        string bundle = Path.Combine(Images.NewScratchDirectory("umoci"), "bundle");
        string rootfs = await RealImages.UmociUnpackAsync(layout, RealImages.Tag, bundle, rootless, Token);
        return await TreeSnapshot.CaptureAsync(rootfs, cancellationToken: Token);
    }

    /// <summary>Copies an image with skopeo into a new gzip OCI layout (umoci 0.4.7 reads neither zstd nor archives).</summary>
    private async Task<string> SkopeoCopyToGzipLayoutAsync(string source)
    {
        string layout = Path.Combine(Images.NewScratchDirectory("skopeo"), "layout");
        await Tools.RunCheckedAsync("skopeo",
            ["--insecure-policy", "copy", "--quiet", "--dest-compress-format", "gzip", source, $"oci:{layout}:{RealImages.Tag}"], Token);
        return layout;
    }

    private static string Hex(string text) => Convert.ToHexStringLower(Encoding.UTF8.GetBytes(text));

    [Theory]
    [InlineData("umoci-multi", false)]
    [InlineData("umoci-multi", true)]
    [InlineData("buildah-opaque", false)]
    [InlineData("buildah-opaque", true)]
    [InlineData("sample", false)]
    [InlineData("sample", true)]
    public async Task UmociUnpacksEveryOciLayout(string image, bool rootless)
    {
        var snapshot = await UnpackAndSnapshotAsync(Layout(image), rootless);

        var busybox = snapshot["/bin/busybox"];
        Assert.Equal(SnapshotEntryType.RegularFile, busybox.Type);
        Assert.Equal("0755", busybox.OctalMode);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(await File.ReadAllBytesAsync("/bin/busybox", Token))), busybox.ContentSha256);
        Assert.Equal("busybox", snapshot["/bin/sh"].SymlinkTarget);
    }

    [Fact]
    public async Task TwoUnpacksAreEqualAndAChmodIsReportedByPathAndField()
    {
        string firstBundle = Path.Combine(Images.NewScratchDirectory("first"), "bundle");
        string rootfs = await RealImages.UmociUnpackAsync(Images.UmociMulti, RealImages.Tag, firstBundle, rootless: false, Token);
        var first = await TreeSnapshot.CaptureAsync(rootfs, cancellationToken: Token);
        var second = await UnpackAndSnapshotAsync(Images.UmociMulti);

        TreeSnapshotAssert.Equal(first, second);

        await Tools.RunCheckedAsync("chmod", ["0600", Path.Combine(rootfs, "etc", "passwd")], Token);
        var modified = await TreeSnapshot.CaptureAsync(rootfs, cancellationToken: Token);
        Assert.Equal(["/etc/passwd: mode 0644 vs 0600"], TreeSnapshot.Diff(second, modified));
    }

    [Fact]
    public async Task UmociMultiUnpacksToTheLayeredResult()
    {
        var tree = await UnpackAndSnapshotAsync(Images.UmociMulti);

        // Whiteouts, re-adds and a recreated directory.
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData("re-added in layer 3\n"u8)), tree["/data/delete-me.txt"].ContentSha256);
        Assert.DoesNotContain("/data/dir-to-delete", tree.Entries.Keys);
        Assert.Equal(
            ["/data/recreated", "/data/recreated/new-subdir", "/data/recreated/new-subdir/new2.txt", "/data/recreated/new1.txt"],
            tree.Entries.Keys.Where(path => path.StartsWith("/data/recreated", StringComparison.Ordinal)));
        Assert.Equal("0750", tree["/data/recreated"].OctalMode);
        // Type changes.
        Assert.Equal(SnapshotEntryType.Directory, tree["/data/types/file-to-dir"].Type);
        Assert.Equal("../../etc", tree["/data/types/dir-to-symlink"].SymlinkTarget);
        Assert.Equal(SnapshotEntryType.RegularFile, tree["/data/types/symlink-to-file"].Type);
        Assert.Equal(SnapshotEntryType.RegularFile, tree["/data/types/dir-to-file"].Type);
        Assert.Equal("/bin/busybox", tree["/data/types/file-to-symlink"].SymlinkTarget);
        Assert.True(tree.Entries.ContainsKey("/etc/passwd"), "a whiteout under the dir-to-symlink symlink must not reach /etc");
        // Hardlink groups: the set split by layer 3 and the pair made by layer 2.
        Assert.Equal(["/data/hardlinks/second", "/data/hardlinks/third"], tree["/data/hardlinks/third"].HardlinkGroup);
        Assert.Equal(["/data/hardlinks/later-link", "/data/hardlinks/lower-target"], tree["/data/hardlinks/lower-target"].HardlinkGroup);
        // Devices, and the fifo removed by layer 3.
        Assert.Equal((SnapshotEntryType.CharDevice, 1u, 3u), (tree["/data/special/null"].Type, tree["/data/special/null"].DeviceMajor, tree["/data/special/null"].DeviceMinor));
        Assert.Equal((SnapshotEntryType.CharDevice, 1u, 5u), (tree["/data/special/zero"].Type, tree["/data/special/zero"].DeviceMajor, tree["/data/special/zero"].DeviceMinor));
        Assert.Equal(SnapshotEntryType.BlockDevice, tree["/data/special/loop7"].Type);
        Assert.DoesNotContain("/data/special/fifo", tree.Entries.Keys);
        // Xattrs, as changed by layer 2.
        const string capability = "0100000200040000000000000000000000000000";
        Assert.Equal(capability, tree["/data/xattrs/capable"].Xattrs["security.capability"]);
        Assert.Equal(capability, tree["/data/xattrs/raw-capability"].Xattrs["security.capability"]);
        Assert.Equal(new Dictionary<string, string> { ["user.decant.comment"] = Hex("changed") }, tree["/data/xattrs/user-text"].Xattrs);
        Assert.Equal("00ff7f80", tree["/data/xattrs/user-binary"].Xattrs["user.decant.binary"]);
        Assert.Equal(Hex("on a directory"), tree["/data/xattrs/dir-with-xattr"].Xattrs["user.decant.dir"]);
        // Owners, modes, names and sizes.
        Assert.Equal((100000L, 100000L), (tree["/data/owners/big100000"].Uid, tree["/data/owners/big100000"].Gid));
        Assert.Equal((1000L, 1000L), (tree["/data/owners/link1000"].Uid, tree["/data/owners/link1000"].Gid));
        Assert.Equal("4755", tree["/data/modes/setuid"].OctalMode);
        Assert.Equal("0600", tree["/data/modes/setgid"].OctalMode);
        Assert.Equal("2775", tree["/data/modes/setgid-dir"].OctalMode);
        Assert.Equal("1777", tree["/tmp"].OctalMode);
        Assert.Equal("0555", tree["/data/modes/readonly-dir"].OctalMode);
        Assert.DoesNotContain("/data/modes/readonly-dir/inside", tree.Entries.Keys);
        Assert.Equal(0, tree["/data/names/empty"].Size);
        Assert.Equal(3L * 1024 * 1024 + 123, tree["/data/large/random.bin"].Size);
        Assert.Contains("/data/names/日本語.txt", tree.Entries.Keys);
        Assert.DoesNotContain("/data/names/tab\\x09name", tree.Entries.Keys);
        Assert.Contains(tree.Entries.Keys, path => Encoding.UTF8.GetByteCount(path) > 300);
        // Layer times: layer 1 files keep theirs, layer 2 changes carry a day later.
        Assert.Equal(1700000000 + 86400, tree["/bin/busybox"].ModificationTime.Seconds);
        Assert.Equal(1700000000 + 2 * 86400, tree["/data/types/dir-to-file"].ModificationTime.Seconds);
    }

    [Fact]
    public async Task BuildahOpaqueWhiteoutHidesTheLowerDirectory()
    {
        var tree = await UnpackAndSnapshotAsync(Images.BuildahOpaque);

        Assert.Equal(["/opaque", "/opaque/new.txt"], tree.Entries.Keys.Where(path => path.StartsWith("/opaque", StringComparison.Ordinal)));
        Assert.DoesNotContain("/keep/gone.txt", tree.Entries.Keys);
        Assert.Equal(["/keep/file.txt", "/keep/hardlink-to-lower.txt"], tree["/keep/file.txt"].HardlinkGroup);
    }

    [Theory]
    [InlineData("oci:{0}/umoci-multi-zstd:latest")]
    [InlineData("oci-archive:{0}/umoci-multi.oci.tar:latest")]
    [InlineData("docker-archive:{0}/umoci-multi.docker.tar")]
    public async Task EveryCopyOfUmociMultiUnpacksToTheSameTree(string sourceFormat)
    {
        string copy = await SkopeoCopyToGzipLayoutAsync(string.Format(System.Globalization.CultureInfo.InvariantCulture, sourceFormat, Images.CorpusDirectory));

        TreeSnapshotAssert.Equal(await UnpackAndSnapshotAsync(Images.UmociMulti), await UnpackAndSnapshotAsync(copy));
    }

    [Fact]
    public async Task RootlessUnpackDiffersFromRootOnlyInOwnersAndDevices()
    {
        var root = await UnpackAndSnapshotAsync(Images.UmociMulti, rootless: false);
        var rootless = await UnpackAndSnapshotAsync(Images.UmociMulti, rootless: true);

        var differences = TreeSnapshot.Diff(root, rootless, new SnapshotCompareOptions()
            .Ignore("**", SnapshotField.Owner)
            .IgnoreXattr("user.rootlesscontainers")
            .Ignore("/data/special/*", SnapshotField.Type | SnapshotField.Device | SnapshotField.Content));

        Assert.Empty(differences);
        var unfiltered = TreeSnapshot.Diff(root, rootless);
        // Rootless files belong to whoever ran umoci: this process, which also owns its scratch directories.
        uint callerUid = TreeSnapshotNative.LStat(Encoding.UTF8.GetBytes(Images.NewScratchDirectory("owner"))).Uid;
        Assert.Contains($"/data/owners/big100000: uid 100000 vs {callerUid}", unfiltered);
        Assert.Contains("/data/special/null: type CharDevice vs RegularFile", unfiltered);
        Assert.Equal(SnapshotEntryType.RegularFile, rootless["/data/special/null"].Type);
    }
}
