using Decant.Tests.Support;

namespace Decant.Tests.Sources.ContainersStorage;

/// <summary>
/// Every layer rebuilt from a store is checked against its diff_id, as layers from every other
/// source are: one byte changed in one file of one layer's directory (in a copy of the store; the
/// file keeps its size, so tar-split still lays the tar out the same) fails the export with exit 6
/// (a digest mismatch), naming that layer, leaving no output, and leaving nothing in the layer
/// cache that would let the next export through.
/// </summary>
[Collection(UsesContainersStores.Name)]
public sealed class ContainersStorageIntegrityTests(ContainersStores stores) : ContainersStorageTest(stores)
{
    [Theory]
    [InlineData("overlay", "dir")]
    [InlineData("overlay", "tar")]
    [InlineData("vfs", "dir")]
    public async Task OneByteChangedInALayersFileFailsTheExportNamingTheLayer(string storeName, string format)
    {
        var store = await Stores.CopyAsync(Stores.RootStore(storeName), Stores.NewScratchDirectory("cs-corrupt"), Token);
        // Layer 1 holds data/big/4mib; the layers above do not change it (vfs's own copies of it in
        // their directories stay intact, so only layer 1 is wrong).
        var layer = store.Image.Layers[0];
        string file = Path.Combine(store.LayerDirectory(layer.Id), "data", "big", "4mib");
        await FlipByteAsync(file, 2 << 20);

        string cache = Path.Combine(Stores.NewScratchDirectory("cs-corrupt-cache"), "cache");
        foreach (string attempt in new[] { "first", "second" })
        {
            string output = NewOutput("cs-corrupt-" + attempt, format);
            var result = await DecantAsync("export", store.Reference(), "-o", output, "--format", format, "--cache", cache);
            AssertFailedLeavingNothing(result, 6, "", output);
            string error = result.StandardError;
            Assert.True(error.Contains(layer.DiffId, StringComparison.Ordinal) || error.Contains(layer.Id[..12], StringComparison.Ordinal),
                $"the {attempt} error names neither the layer's diff_id {layer.DiffId} nor its ID {layer.Id}:\n{error}");
        }
    }

    [Fact]
    public async Task TheUncorruptedCopyExports()
    {
        // The copy itself is sound: the failure above is the changed byte's.
        var store = await Stores.CopyAsync(Stores.Overlay, Stores.NewScratchDirectory("cs-copy"), Token);
        var (output, _) = await ExportAsync(store.Reference(), "dir");
        TreeSnapshotAssert.Equal(store.Image.RegistryTree, await SnapshotAsync(output));
    }

    private async Task FlipByteAsync(string path, long offset)
    {
        var file = new FileStream(path, FileMode.Open, FileAccess.ReadWrite);
        await using (file)
        {
            var buffer = new byte[1];
            file.Position = offset;
            Assert.Equal(1, await file.ReadAsync(buffer, Token));
            buffer[0] ^= 0x20;
            file.Position = offset;
            await file.WriteAsync(buffer, Token);
        }
    }
}
