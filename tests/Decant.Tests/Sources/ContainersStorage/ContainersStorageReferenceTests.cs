using System.Text.Json;
using Decant.Export;
using Decant.Tests.Support;

namespace Decant.Tests.Sources.ContainersStorage;

/// <summary>
/// The ways a containers-storage reference names an image, as skopeo and podman spell them: the full
/// name, a short name (resolved as podman does, <c>cstore/test</c> → <c>localhost/cstore/test:latest</c>),
/// another tag of the same image, the image ID with and without <c>sha256:</c>, and a unique prefix of
/// it. An unknown name fails with one line that lists the close names, and writes nothing.
/// </summary>
[Collection(UsesContainersStores.Name)]
public sealed class ContainersStorageReferenceTests(ContainersStores stores) : ContainersStorageTest(stores)
{
    private ContainersStore Store => Stores.Overlay;

    public static TheoryData<string> Names => ["localhost/cstore/test", "cstore/test", "cstore/test:latest", "cstore/test:alias", "localhost/cstore/test:alias", "{id}", "sha256:{id}", "{prefix}"];

    [Theory]
    [MemberData(nameof(Names))]
    public async Task EveryNameOfTheImageResolvesToIt(string name)
    {
        string resolved = name.Replace("{id}", Store.Image.Id, StringComparison.Ordinal).Replace("{prefix}", await UniquePrefixAsync(), StringComparison.Ordinal);
        // Resolved in-process (the CLI's inspect and export are run by the tests around this one).
        // localhost/cstore/test:bud, the image below, differs in its top layer.
        var image = await ImageExporter.ResolveAsync(Store.Reference(resolved), cancellationToken: Token);
        Assert.Equal(Store.Image.Layers.Select(layer => layer.DiffId), image.DiffIds.Select(diffId => diffId.ToString()));
    }

    [Fact]
    public async Task ExportByImageIdEqualsTheRegistryExport()
    {
        var (output, _) = await ExportAsync(Store.Reference("sha256:" + Store.Image.Id), "dir");
        TreeSnapshotAssert.Equal(Store.Image.RegistryTree, await SnapshotAsync(output));
    }

    [Theory]
    [InlineData("localhost/cstore/tset:latest")]
    [InlineData("cstore/tests")]
    public async Task UnknownImageFailsListingCloseNamesAndWritesNothing(string name)
    {
        string output = NewOutput("cs-unknown", "dir");
        var result = await DecantAsync("export", Store.Reference(name), "-o", output);
        // Close names are spelled as the name was (localhost/cstore/test:latest, or cstore/test:latest for a short name).
        AssertFailedLeavingNothing(result, 3, "cstore/test:latest", output);
        Assert.Contains(name, result.StandardError, StringComparison.Ordinal);
    }

    /// <summary>The shortest prefix (at least 12 hex digits, as podman prints IDs) of the image's ID that no other image ID in the store starts with.</summary>
    private async Task<string> UniquePrefixAsync()
    {
        using var images = JsonDocument.Parse(await File.ReadAllBytesAsync(Path.Combine(Store.GraphRoot, "overlay-images", "images.json"), Token));
        var others = images.RootElement.EnumerateArray().Select(image => image.GetProperty("id").GetString()!).Where(id => id != Store.Image.Id).ToList();
        Assert.NotEmpty(others); // buildah bud --layers left intermediate images, so uniqueness means something
        for (int length = 12; length <= Store.Image.Id.Length; length++)
        {
            string prefix = Store.Image.Id[..length];
            if (!others.Any(id => id.StartsWith(prefix, StringComparison.Ordinal)))
            {
                return prefix;
            }
        }
        throw new InvalidOperationException("the image ID is a prefix of another");
    }
}
