using System.Text.Json;
using Decant.Tests.Support;

namespace Decant.Tests.Sources.ContainersStorage;

/// <summary>
/// A layer whose tar-split record is missing (in a copy of the store) is read from its overlay diff
/// directory: whiteouts (0/0 character devices), the opaque directory (its xattr), hardlinks,
/// xattrs and non-UTF-8 names give the same tree as the record does, the diff_id check is reported
/// as skipped (a warning and <c>layersUnverified</c>), and the rebuilt layer never enters the layer
/// cache under the config's diff_id, while a layer the cache already holds verified is used instead.
/// </summary>
[Collection(UsesContainersStores.Name)]
public sealed class ContainersStorageDiffDirectoryTests(ContainersStores stores) : ContainersStorageTest(stores)
{
    /// <summary>A copy of the overlay store without the tar-split records of every layer.</summary>
    private async Task<ContainersStore> StoreWithoutTarSplitAsync(string purpose)
    {
        var store = await Stores.CopyAsync(Stores.Overlay, Stores.NewScratchDirectory(purpose), Token);
        foreach (var (id, _) in store.Image.Layers)
        {
            File.Delete(Path.Combine(store.LayersDirectory, id + ".tar-split.gz"));
        }
        return store;
    }

    private static long Cache(JsonElement summary, string field) => summary.GetProperty("cache").GetProperty(field).GetInt64();

    [Theory]
    [InlineData("dir")]
    [InlineData("tar")]
    [InlineData("ext4")]
    public async Task EveryLayerFromItsDiffDirectoryGivesTheSameTree(string format)
    {
        var store = await StoreWithoutTarSplitAsync("cs-no-tar-split-" + format);
        string output = NewOutput("cs-diff-" + format, format);
        var result = await DecantAsync("export", store.Reference(), "-o", output, "--format", format, "--progress", "json");
        Assert.True(result.ExitCode == 0, $"decant export exited with {result.ExitCode}:\n{result.StandardError}");
        var summary = Summary(result);
        int layers = store.Image.Layers.Select(layer => layer.DiffId).Distinct().Count();
        Assert.Equal(layers, Cache(summary, "layersUnverified"));
        var warnings = result.StandardError.Split('\n').Where(line => line.Contains("\"warning\"", StringComparison.Ordinal)).ToList();
        Assert.True(warnings.Count >= layers && warnings.All(warning => warning.Contains("is not checked", StringComparison.Ordinal)),
            $"expected a warning per layer saying its diff_id is not checked:\n{result.StandardError}");
        var expected = store.Image.RegistryTree;
        switch (format)
        {
            case "dir":
                TreeSnapshotAssert.Equal(expected, await SnapshotAsync(output));
                break;
            case "tar":
                await AssertTarHoldsAsync(expected, output);
                break;
            default:
                await AssertExt4HoldsAsync(expected, output);
                break;
        }
    }

    [Fact]
    public async Task ARebuiltLayerIsNotCachedAndACachedOneIsUsedInstead()
    {
        var store = await StoreWithoutTarSplitAsync("cs-no-tar-split-cache");
        string cache = Path.Combine(Stores.NewScratchDirectory("cs-no-tar-split-cache"), "cache");
        int layers = store.Image.Layers.Select(layer => layer.DiffId).Distinct().Count();

        var (_, unverified) = await ExportAsync(store.Reference(), "dir", "--cache", cache);
        Assert.Equal(layers, Cache(unverified, "layersUnverified"));
        var list = await DecantAsync("cache", "ls", "--cache", cache, "--json");
        Assert.True(list.ExitCode == 0, list.StandardError);
        using (var listed = JsonDocument.Parse(list.StandardOutput))
        {
            Assert.Empty(listed.RootElement.GetProperty("layers").EnumerateArray());
        }

        // The intact store's export keeps every layer, verified; the damaged store's then reads them from the cache.
        await ExportAsync(Stores.Overlay.Reference(), "dir", "--cache", cache);
        var (output, fromCache) = await ExportAsync(store.Reference(), "dir", "--cache", cache);
        Assert.Equal(0, Cache(fromCache, "layersUnverified"));
        Assert.Equal(layers, Cache(fromCache, "layersFromCache"));
        TreeSnapshotAssert.Equal(store.Image.RegistryTree, await SnapshotAsync(output));
    }

    [Fact]
    public async Task AVfsLayerWithoutItsRecordIsAnErrorNamingIt()
    {
        var store = await Stores.CopyAsync(Stores.Vfs, Stores.NewScratchDirectory("cs-vfs-no-tar-split"), Token);
        var layer = store.Image.Layers[0];
        File.Delete(Path.Combine(store.LayersDirectory, layer.Id + ".tar-split.gz"));
        string output = NewOutput("cs-vfs-no-tar-split", "dir");
        var result = await DecantAsync("export", store.Reference(), "-o", output);
        AssertFailedLeavingNothing(result, 7, "a vfs layer cannot be recovered without one", output);
        Assert.Contains(layer.Id[..12], result.StandardError, StringComparison.Ordinal);
    }
}
