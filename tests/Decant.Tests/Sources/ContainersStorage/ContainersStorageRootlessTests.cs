using Decant.Tests.Differential;
using Decant.Tests.Support;

namespace Decant.Tests.Sources.ContainersStorage;

/// <summary>
/// A rootless store, exported by the user who owns it: its files belong to that user's sub-IDs on
/// disk (uid 1234 of the image is sub-uid start + 1233) and some are unreadable to the user (the
/// image's 0600 file of uid 1234), yet the export holds the image's tree with the image's owners:
/// exactly, in a tar, and in the <c>user.rootlesscontainers</c> xattr of a directory export, which
/// equals <c>umoci unpack --rootless</c> run by the same user (but for the empty xattr umoci drops,
/// <see cref="ContainersStores.UmociRootlessQuirk"/>).
/// </summary>
[Collection(UsesContainersStores.Name)]
public sealed class ContainersStorageRootlessTests(ContainersStores stores) : ContainersStorageTest(stores)
{
    private const string OwnerXattr = "user.rootlesscontainers";

    private static string DecantDll => Path.Combine(AppContext.BaseDirectory, "decant.dll");

    [Fact]
    public async Task TarExportByTheStoresUserHasTheImagesOwnersAndEveryFile()
    {
        var user = Stores.RootlessUser;
        string output = Path.Combine(user.Workspace, $"export-{Guid.NewGuid():N}.tar");
        await ExportAsUserAsync(Stores.Rootless.Reference(), output);

        var expected = Stores.Rootless.Image.RegistryTree;
        await AssertTarHoldsAsync(expected, output);
        var secret = (await FlattenedTarSnapshot.ReadAsync(output, Token)).Single(entry => entry.Path == "/data/owners/secret");
        Assert.Equal((1234L, 1234L, "0600"), (secret.Uid, secret.Gid, secret.OctalMode));
        Assert.Equal(expected["/data/owners/secret"].ContentSha256, secret.ContentSha256);
    }

    [Fact]
    public async Task DirectoryExportByTheStoresUserEqualsItsRootlessUmociUnpack()
    {
        var user = Stores.RootlessUser;
        string rootfs = Path.Combine(user.Workspace, $"rootfs-{Guid.NewGuid():N}");
        string bundle = Path.Combine(user.Workspace, $"umoci-{Guid.NewGuid():N}");
        await ExportAsUserAsync(Stores.Rootless.Reference(), rootfs);
        await user.RunAsync("umoci", ["unpack", "--rootless", "--image", $"{Stores.Rootless.Image.OciLayout}:{RealImages.Tag}", bundle], Token);

        var decant = await SnapshotAsync(rootfs);
        TreeSnapshotAssert.Equal(await SnapshotAsync(Path.Combine(bundle, "rootfs")), decant, ContainersStores.UmociRootlessQuirk);
        Assert.Equal("", decant["/data/whiteout/kept"].Xattrs[ContainersStores.OverlayOriginXattr]);
        Assert.All(decant.Entries.Values, entry => Assert.Equal((user.Uid, user.Gid), ((uint)entry.Uid, (uint)entry.Gid)));
        var secret = decant["/data/owners/secret"];
        Assert.Equal("0600", secret.OctalMode);
        Assert.Equal(Stores.Rootless.Image.UmociTree["/data/owners/secret"].ContentSha256, secret.ContentSha256);
        // user.rootlesscontainers is a protobuf: field 1 (uid) and field 2 (gid) as varints; 1234 = 0xd2 0x09.
        Assert.Equal("08d20910d209", secret.Xattrs[OwnerXattr]);
        Assert.Equal("08feff0310feff03", decant["/data/owners/nobody-dir"].Xattrs[OwnerXattr]);
    }

    /// <summary>The user's directory export is the same whether the image comes from the store or from the OCI layout skopeo copied it to.</summary>
    [Fact]
    public async Task DirectoryExportByTheStoresUserEqualsItsExportOfTheSameImageFromALayout()
    {
        var user = Stores.RootlessUser;
        string fromStore = Path.Combine(user.Workspace, $"rootfs-{Guid.NewGuid():N}");
        string fromLayout = Path.Combine(user.Workspace, $"rootfs-{Guid.NewGuid():N}");
        await ExportAsUserAsync(Stores.Rootless.Reference(), fromStore);
        await ExportAsUserAsync($"oci:{Stores.Rootless.Image.OciLayout}:{RealImages.Tag}", fromLayout);

        TreeSnapshotAssert.Equal(await SnapshotAsync(fromLayout), await SnapshotAsync(fromStore));
    }

    /// <summary>The store this class reads is rootless indeed: the image's owners are sub-IDs on disk.</summary>
    [Fact]
    public async Task TheStoresFilesBelongToSubIds()
    {
        var (uid, gid) = Stores.RootlessSubIdStart;
        var owners = await Tools.RunCheckedAsync("find", [Path.Combine(Stores.Rootless.GraphRoot, "overlay"), "-path", "*/diff/data/owners/*", "-printf", "%P %U:%G %m\n"], Token);
        var lines = owners.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => line[(line.IndexOf("/diff/", StringComparison.Ordinal) + 6)..]).Order(StringComparer.Ordinal);
        Assert.Equal([$"data/owners/nobody-dir {uid + 65533}:{gid + 65533} 750", $"data/owners/secret {uid + 1233}:{gid + 1233} 600"], lines);
    }

    /// <summary>Runs <c>decant export REFERENCE -o OUTPUT</c> as the store's user, with a new layer cache in its workspace.</summary>
    private Task<ToolResult> ExportAsUserAsync(string reference, string output)
    {
        var user = Stores.RootlessUser;
        return user.RunAsync("dotnet", [DecantDll, "export", reference, "-o", output, "--progress", "none", "--cache", Path.Combine(user.Workspace, $"cache-{Guid.NewGuid():N}")], Token);
    }
}
