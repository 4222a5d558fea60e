using System.Text;
using Decant.Manifests;
using Decant.Tests.Support;

namespace Decant.Tests.Infra;

/// <summary>
/// Lists every layer of the real-image corpus with GNU tar and checks that each promised case is
/// really there, so a change to the build script or a tool upgrade cannot silently drop one.
/// </summary>
[Collection(UsesRealImages.Name)]
public sealed class CorpusLayerTests(RealImages images) : RealImagesTest(images)
{
    private async Task<List<IReadOnlyList<TarListingEntry>>> ListLayersAsync(string layout)
    {
        var listings = new List<IReadOnlyList<TarListingEntry>>();
        foreach (var layer in await RealImagesLayout.ReadLayersAsync(layout, RealImages.Tag, Token))
        {
            listings.Add(await ToolsTarListing.ListAsync(layer.BlobPath, Token));
        }
        return listings;
    }

    private static TarListingEntry Single(IReadOnlyList<TarListingEntry> layer, string name) =>
        Assert.Single(layer, entry => entry.Name == name);

    [Fact]
    public void FixtureBuildsEveryImageAndListsItInTheManifest()
    {
        foreach (string layout in Images.OciLayouts.Append(Images.SampleBusybox))
        {
            Assert.True(File.Exists(Path.Combine(layout, "oci-layout")), $"{layout} is not an OCI layout");
            Assert.True(File.Exists(Path.Combine(layout, "index.json")), $"{layout} has no index.json");
        }
        Assert.True(new FileInfo(Images.UmociMultiOciArchive).Length > 0);
        Assert.True(new FileInfo(Images.UmociMultiDockerArchive).Length > 0);
        string[] listed = [.. File.ReadAllLines(Path.Combine(Images.CorpusDirectory, "MANIFEST.txt"))
            .Where(line => !line.StartsWith('#')).Select(line => line.Split('\t')[0])];
        Assert.Equal(["umoci-multi", "umoci-multi-zstd", "buildah-opaque", "umoci-multi.oci.tar", "umoci-multi.docker.tar"], listed);
    }

    [Fact]
    public async Task UmociBaseLayerHoldsEverySpecialKindOfEntry()
    {
        var layers = await ListLayersAsync(Images.UmociMulti);
        Assert.Equal(4, layers.Count);
        var layer = layers[0];

        Assert.Equal('-', Single(layer, "bin/busybox").Type);
        Assert.Equal("busybox", Single(layer, "bin/sh").LinkTarget);
        Assert.Equal("/bin/busybox", Single(layer, "usr/bin/env").LinkTarget);
        Assert.Equal("../../etc/group", Single(layer, "data/links/relative").LinkTarget);
        Assert.True(Single(layer, "data/links/long-target").LinkTarget!.Length > 100);
        Assert.Equal("data/hardlinks/first", Single(layer, "data/hardlinks/second").LinkTarget);
        Assert.Equal('h', Single(layer, "data/hardlinks/third").Type);
        Assert.Equal('p', Single(layer, "data/special/fifo").Type);
        var device = Single(layer, "data/special/null");
        Assert.Equal(('c', "1,3"), (device.Type, device.SizeOrDevice));
        Assert.Equal('b', Single(layer, "data/special/loop7").Type);

        Assert.Contains(layer, entry => Encoding.UTF8.GetByteCount(entry.BaseName) == 200);
        Assert.Contains(layer, entry => entry.Type == '-' && Encoding.UTF8.GetByteCount(entry.Name) > 255);
        Assert.Contains(layer, entry => entry.Type == 'h' && Encoding.UTF8.GetByteCount(entry.Name) > 255 && entry.LinkTarget!.Length > 255);
        Assert.Equal('-', Single(layer, "data/names/café").Type);
        Assert.Equal('-', Single(layer, "data/names/日本語.txt").Type);
        Assert.Equal('-', Single(layer, "data/names/über dir/file with spaces.txt").Type);
        Assert.Equal('-', Single(layer, "data/names/tab\tname").Type);
        Assert.Equal("0", Single(layer, "data/names/empty").SizeOrDevice);
        Assert.True(long.Parse(Single(layer, "data/large/random.bin").SizeOrDevice, System.Globalization.CultureInfo.InvariantCulture) > 3 << 20);

        Assert.Equal((1000L, 1000L), (Single(layer, "data/owners/user1000").Uid, Single(layer, "data/owners/user1000").Gid));
        Assert.Equal(100000L, Single(layer, "data/owners/big100000").Uid);
        Assert.Equal(1000L, Single(layer, "data/owners/link1000").Uid);

        Assert.Equal("rwsr-xr-x", Single(layer, "data/modes/setuid").Permissions);
        Assert.Equal("rwxr-sr-x", Single(layer, "data/modes/setgid").Permissions);
        Assert.Equal("rwxrwxrwt", Single(layer, "data/modes/sticky-dir/").Permissions);
        Assert.Equal("rwx------", Single(layer, "data/modes/private-dir/").Permissions);
        Assert.Equal("r-xr-xr-x", Single(layer, "data/modes/readonly-dir/").Permissions);
        Assert.Equal("---------", Single(layer, "data/modes/no-permissions").Permissions);

        foreach (string name in new[] { "data/xattrs/capable", "data/xattrs/raw-capability", "data/xattrs/user-text", "data/xattrs/user-binary", "data/xattrs/dir-with-xattr/" })
        {
            Assert.True(Single(layer, name).HasXattrs, $"{name} carries no xattrs in the layer");
        }
        Assert.DoesNotContain(layer, entry => entry.BaseName.StartsWith(".wh.", StringComparison.Ordinal));
    }

    [Fact]
    public async Task UmociSecondLayerHoldsWhiteoutsTypeChangesAndAHardlinkToALowerFile()
    {
        var layer = (await ListLayersAsync(Images.UmociMulti))[1];

        Assert.Equal('-', Single(layer, "data/.wh.delete-me.txt").Type);
        Assert.Equal('-', Single(layer, "data/.wh.dir-to-delete").Type);
        // A directory removed and recreated: whiteouts of the old children beside the new ones (umoci writes no opaque whiteout).
        Assert.Equal("rwxr-x---", Single(layer, "data/recreated/").Permissions);
        Single(layer, "data/recreated/.wh.old1.txt");
        Single(layer, "data/recreated/.wh.old-subdir");
        Single(layer, "data/recreated/new1.txt");
        Assert.DoesNotContain(layer, entry => entry.BaseName == ".wh..wh..opq");
        // Type changes, including the whiteouts umoci writes beneath a directory that became a symlink.
        Assert.Equal('d', Single(layer, "data/types/file-to-dir/").Type);
        Assert.Equal("../../etc", Single(layer, "data/types/dir-to-symlink").LinkTarget);
        Single(layer, "data/types/dir-to-symlink/.wh.x.txt");
        Single(layer, "data/types/dir-to-symlink/.wh.inner");
        Assert.Equal('-', Single(layer, "data/types/symlink-to-file").Type);
        Assert.Equal('-', Single(layer, "data/types/dir-to-file").Type);
        Single(layer, "data/types/dir-to-file/.wh.z.txt");
        Assert.Equal("/bin/busybox", Single(layer, "data/types/file-to-symlink").LinkTarget);
        // The new name of a lower-layer file: umoci writes the file again and links the old name to it.
        var hardlinks = layer.Where(entry => entry.Name.StartsWith("data/hardlinks/", StringComparison.Ordinal) && entry.Type is 'h' or '-').ToList();
        Assert.Contains(hardlinks, entry => entry.Type == 'h' && entry.Name == "data/hardlinks/lower-target" && entry.LinkTarget == "data/hardlinks/later-link");
        Assert.Equal(('c', "1,5"), (Single(layer, "data/special/zero").Type, Single(layer, "data/special/zero").SizeOrDevice));
        Assert.Equal("rw-------", Single(layer, "data/modes/setgid").Permissions);
        Assert.Equal(1000L, Single(layer, "data/xattrs/user-binary").Uid);
    }

    [Fact]
    public async Task UmociLaterLayersReAddAWhitedOutFileAndSplitAHardlinkSet()
    {
        var layers = await ListLayersAsync(Images.UmociMulti);

        Assert.Equal('-', Single(layers[2], "data/delete-me.txt").Type);
        Single(layers[2], "data/hardlinks/.wh.first");
        Assert.Equal("data/hardlinks/second", Single(layers[2], "data/hardlinks/third").LinkTarget);
        Single(layers[2], "data/modes/readonly-dir/.wh.inside");
        Single(layers[2], "data/special/.wh.fifo");
        Assert.Equal(["data/names/", "data/names/.wh.tab\tname"], layers[3].Select(entry => entry.Name));
    }

    [Fact]
    public async Task BuildahLayerHoldsARealOpaqueWhiteout()
    {
        var descriptors = await RealImagesLayout.ReadLayersAsync(Images.BuildahOpaque, RealImages.Tag, Token);
        Assert.All(descriptors, layer => Assert.Equal(MediaTypes.OciLayer, layer.Descriptor.MediaType));
        var layers = await ListLayersAsync(Images.BuildahOpaque);
        Assert.Equal(2, layers.Count);

        Single(layers[0], "opaque/old.txt");
        Single(layers[0], "opaque/sub/deep.txt");
        Single(layers[1], "opaque/.wh..wh..opq");
        Single(layers[1], "opaque/new.txt");
        Single(layers[1], "keep/.wh.gone.txt");
        var link = Single(layers[1], "keep/hardlink-to-lower.txt");
        Assert.Equal(('h', "keep/file.txt"), (link.Type, link.LinkTarget));
    }

    [Fact]
    public async Task ZstdCopyHasTheSameEntriesAsTheGzipOriginal()
    {
        var original = await RealImagesLayout.ReadLayersAsync(Images.UmociMulti, RealImages.Tag, Token);
        var zstd = await RealImagesLayout.ReadLayersAsync(Images.UmociMultiZstd, RealImages.Tag, Token);
        Assert.All(original, layer => Assert.Equal(MediaTypes.OciLayerGzip, layer.Descriptor.MediaType));
        Assert.All(zstd, layer => Assert.Equal(MediaTypes.OciLayerZstd, layer.Descriptor.MediaType));

        Assert.Equal(await ListLayersAsync(Images.UmociMulti), await ListLayersAsync(Images.UmociMultiZstd));
    }

    [Fact]
    public async Task ArchivesHoldTheirIndexes()
    {
        var ociArchive = await ToolsTarListing.ListAsync(Images.UmociMultiOciArchive, Token);
        Assert.Contains(ociArchive, entry => entry.Name == "index.json");
        Assert.Contains(ociArchive, entry => entry.Name == "oci-layout");
        var dockerArchive = await ToolsTarListing.ListAsync(Images.UmociMultiDockerArchive, Token);
        Assert.Contains(dockerArchive, entry => entry.Name == "manifest.json");
        string manifest = (await Tools.RunCheckedAsync("tar", ["-xOf", Images.UmociMultiDockerArchive, "manifest.json"], Token)).StandardOutput;
        // skopeo normalises the reference it was given.
        Assert.Contains("\"docker.io/umoci/multi:latest\"", manifest, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CommittedSampleIsSmallAndHasAWhiteoutASymlinkAndAnExecutable()
    {
        long size = Directory.EnumerateFiles(Images.SampleBusybox, "*", SearchOption.AllDirectories).Sum(file => new FileInfo(file).Length);
        Assert.InRange(size, 1, 2L << 20);
        var layers = await ListLayersAsync(Images.SampleBusybox);

        Assert.Equal(3, layers.Count);
        Assert.Equal("rwxr-xr-x", Single(layers[0], "bin/busybox").Permissions);
        Assert.Equal("busybox", Single(layers[0], "bin/sh").LinkTarget);
        Single(layers[1], "tmp/.wh.scratch.txt");
        Assert.Equal("rwxr-xr-x", Single(layers[1], "usr/bin/hello").Permissions);
        Assert.Equal("/bin/sh", Single(layers[1], "usr/bin/sh-link").LinkTarget);
        Single(layers[2], "etc/motd");
    }
}
