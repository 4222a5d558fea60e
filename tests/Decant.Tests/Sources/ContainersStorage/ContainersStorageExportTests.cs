using System.Security.Cryptography;
using System.Text.Json;
using Decant.Tests.Support;

namespace Decant.Tests.Sources.ContainersStorage;

/// <summary>
/// <c>decant export containers-storage:[DRIVER@GRAPHROOT+RUNROOT]IMAGE</c> from the root overlay and
/// vfs stores, as a directory, a tar and an ext4 image, holds exactly the tree of the same image
/// pushed by skopeo to the test registry and exported from there, and the tree <c>umoci unpack</c>
/// makes of it: type, mode, owner, size, content, link target, xattrs, hardlink groups and mtime of
/// every path, the root included. No difference is ignored (but ext4's lost+found).
/// </summary>
[Collection(UsesContainersStores.Name)]
public sealed class ContainersStorageExportTests(ContainersStores stores) : ContainersStorageTest(stores)
{
    [Theory]
    [InlineData("overlay", "dir")]
    [InlineData("overlay", "tar")]
    [InlineData("overlay", "ext4")]
    [InlineData("vfs", "dir")]
    [InlineData("vfs", "tar")]
    [InlineData("vfs", "ext4")]
    public async Task ExportEqualsTheRegistryExportAndUmociUnpack(string storeName, string format)
    {
        var store = Stores.RootStore(storeName);
        var image = store.Image;
        var (fromStore, _) = await ExportAsync(store.Reference(), format);
        switch (format)
        {
            case "dir":
                var tree = await SnapshotAsync(fromStore);
                TreeSnapshotAssert.Equal(image.RegistryTree, tree);
                TreeSnapshotAssert.Equal(image.UmociTree, tree);
                break;
            case "tar":
                var (fromRegistry, _) = await ExportAsync(image.RegistryReference, format);
                await AssertTarHoldsAsync(image.UmociTree, fromStore);
                await AssertTarHoldsAsync(image.RegistryTree, fromRegistry);
                Assert.Equal(await Sha256Async(fromRegistry), await Sha256Async(fromStore));
                break;
            default:
                var (registryImage, _) = await ExportAsync(image.RegistryReference, format);
                await AssertExt4HoldsAsync(image.UmociTree, fromStore);
                await AssertExt4HoldsAsync(image.RegistryTree, registryImage);
                break;
        }
    }

    /// <summary>
    /// The oracles agree with each other, so that a difference above is Decant's. In the rootless
    /// image they differ in one known way: buildah's rootless overlay (the kernel's, mounted with
    /// userxattr) marks what it copies up with an empty <c>user.overlay.origin</c>, containers/storage
    /// writes it into the layer, and umoci drops empty xattr values (a quirk of 0.4.7) while Decant keeps them.
    /// </summary>
    [Theory]
    [InlineData("overlay")]
    [InlineData("vfs")]
    [InlineData("rootless")]
    public void RegistryExportEqualsUmociUnpack(string storeName)
    {
        var store = storeName == "rootless" ? Stores.Rootless : Stores.RootStore(storeName);
        TreeSnapshotAssert.Equal(store.Image.UmociTree, store.Image.RegistryTree, storeName == "rootless" ? ContainersStores.UmociRootlessQuirk : null);
        var origins = store.Image.RegistryTree.Entries.Values.Where(entry => entry.Xattrs.ContainsKey(ContainersStores.OverlayOriginXattr)).ToList();
        if (storeName == "rootless")
        {
            Assert.Contains(origins, entry => entry.Path == "/data/whiteout/kept");
            Assert.All(origins, entry => Assert.Equal("", entry.Xattrs[ContainersStores.OverlayOriginXattr]));
        }
        else
        {
            Assert.Empty(origins);
        }
    }

    /// <summary>
    /// Guards against a vacuous pass: the compared image holds every promised case, and the stores
    /// hold them the drivers' own way (0/0 character-device whiteouts and an opaque xattr in overlay's
    /// diff directories; whole trees per layer in vfs).
    /// </summary>
    [Fact]
    public async Task ComparisonCoversEveryPromisedCase()
    {
        var tree = Stores.Overlay.Image.UmociTree;
        Assert.DoesNotContain("/data/whiteout/gone", tree.Entries.Keys);
        Assert.Contains("replaced in layer 3", await File.ReadAllTextAsync(Path.Combine(tree.Root, "data/whiteout/kept"), Token), StringComparison.Ordinal);
        Assert.Equal(["/data/opaque", "/data/opaque/new.txt"], tree.Entries.Keys.Where(path => path.StartsWith("/data/opaque", StringComparison.Ordinal)));
        Assert.DoesNotContain("/data/layer3-dir", tree.Entries.Keys);
        Assert.Equal(["/data/hardlinks/first", "/data/hardlinks/second", "/data/hardlinks/third"], tree["/data/hardlinks/first"].HardlinkGroup);
        Assert.Equal(["/data/layer3/a", "/data/layer3/b"], tree["/data/layer3/b"].HardlinkGroup);
        Assert.Equal("0700", tree["/data/hardlinks/lower"].OctalMode);
        Assert.Equal("00ff7f80", tree["/data/xattrs/user"].Xattrs["user.decant.binary"]);
        Assert.Contains("user.decant.dir", tree["/data/xattrs"].Xattrs.Keys);
        Assert.Contains("security.capability", tree["/data/xattrs/capable"].Xattrs.Keys);
        Assert.Equal("4755", tree["/data/modes/setuid"].OctalMode);
        Assert.Equal(("0600", 1234L, 1234L), (tree["/data/owners/secret"].OctalMode, tree["/data/owners/secret"].Uid, tree["/data/owners/secret"].Gid));
        Assert.Equal(("0750", 65534L), (tree["/data/owners/nobody-dir"].OctalMode, tree["/data/owners/nobody-dir"].Uid));
        Assert.Equal("../whiteout/kept", tree["/data/links/relative"].SymlinkTarget);
        Assert.Equal("/nonexistent/target", tree["/data/links/dangling"].SymlinkTarget);
        Assert.Equal(3, tree[@"/data/names/latin1-\xe9"].Size);
        Assert.Equal(@"latin1-\xe9", tree[@"/data/names/link-\xe9"].SymlinkTarget);
        Assert.Contains(@"/data/names/dir-\xff/inner", tree.Entries.Keys);
        Assert.Contains("/data/names/café", tree.Entries.Keys);
        Assert.Equal(4L << 20, tree["/data/big/4mib"].Size);
        // No layer has an entry for the root itself, so only umoci's root keeps the epoch.
        Assert.All(tree.Entries.Values.Where(entry => entry.Path != "/"), entry => Assert.Equal(1700000000, entry.ModificationTime.Seconds));

        foreach (var store in new[] { Stores.Overlay, Stores.Vfs, Stores.Rootless })
        {
            Assert.True(store.Image.Layers.Count == 5, $"{store}: {store.Image.Layers.Count} layers");
            Assert.Equal(EmptyLayerDiffId, store.Image.Layers[^1].DiffId);
        }
        var devices = await Tools.RunCheckedAsync("find", [Path.Combine(Stores.Overlay.GraphRoot, "overlay"), "-path", "*/diff/data/whiteout/gone", "-type", "c", "-exec", "stat", "-c", "%t:%T", "{}", "+"], Token);
        Assert.Equal("0:0", devices.StandardOutput.Trim());
        var opaque = await Tools.RunCheckedAsync("getfattr", ["--absolute-names", "-n", "trusted.overlay.opaque", "--only-values", Stores.Overlay.LayerDirectory(Stores.Overlay.Image.Layers[1].Id) + "/data/opaque"], Token);
        Assert.Equal("y", opaque.StandardOutput);
        Assert.True(File.Exists(Path.Combine(Stores.Vfs.LayerDirectory(Stores.Vfs.Image.Layers[2].Id), "bin", "busybox")), "a vfs layer directory holds the whole tree");
    }

    /// <summary>The store specifier's shorter spellings (the driver found from the graph root, the default run root) and an options suffix name the same image.</summary>
    [Theory]
    [InlineData("overlay", "[{0}]")]
    [InlineData("overlay", "[{1}@{0}]")]
    [InlineData("overlay", "[{1}@{0}+{2}:overlay.mountopt=nodev]")]
    [InlineData("vfs", "[{0}]")]
    [InlineData("vfs", "[{1}@{0}]")]
    public async Task ShorterStoreSpecifiersNameTheSameImage(string storeName, string specifierFormat)
    {
        var store = Stores.RootStore(storeName);
        string specifier = string.Format(System.Globalization.CultureInfo.InvariantCulture, specifierFormat, store.GraphRoot, store.Driver, store.RunRoot);
        var (output, _) = await ExportAsync("containers-storage:" + specifier + ContainersStores.Image, "dir");
        TreeSnapshotAssert.Equal(store.Image.RegistryTree, await SnapshotAsync(output));
    }

    /// <summary><c>decant inspect</c> gives the store's layers with their diff_ids, those of the pushed image's config.</summary>
    [Theory]
    [InlineData("overlay")]
    [InlineData("vfs")]
    public async Task InspectListsTheStoresLayersWithTheirDiffIds(string storeName)
    {
        var store = Stores.RootStore(storeName);
        var inspected = await InspectAsync(store.Reference());
        var diffIds = DiffIds(inspected);
        Assert.Equal(store.Image.Layers.Select(layer => layer.DiffId), diffIds);
        Assert.Equal("linux/amd64", inspected.GetProperty("platform").GetString());

        var manifest = await RealImagesLayout.ReadManifestAsync(store.Image.OciLayout, RealImages.Tag, Token);
        using var config = JsonDocument.Parse(await File.ReadAllBytesAsync(RealImagesLayout.BlobPath(store.Image.OciLayout, manifest.Config), Token));
        Assert.Equal(config.RootElement.GetProperty("rootfs").GetProperty("diff_ids").EnumerateArray().Select(d => d.GetString()), diffIds);
    }

    private async Task<string> Sha256Async(string path)
    {
        var file = File.OpenRead(path);
        await using (file)
        {
            return Convert.ToHexStringLower(await SHA256.HashDataAsync(file, Token));
        }
    }
}
