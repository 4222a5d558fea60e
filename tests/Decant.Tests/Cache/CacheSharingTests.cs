using Decant.Tests.Support;

namespace Decant.Tests.Cache;

/// <summary>
/// Issue 9, sharing: image B is image A's layers plus one. After A is exported into a cache,
/// exporting B downloads and converts only B's new layer, as the registry's own request log (through
/// <see cref="RegistryFaultProxy"/>, which only counts here) and the summary both say.
/// </summary>
[Collection(UsesRegistries.Name)]
public sealed class CacheSharingTests(RegistryFixture registries) : RegistryTest(registries)
{
    [Fact]
    public async Task AnImageThatAddsOneLayerDownloadsAndConvertsOnlyThatLayer()
    {
        byte[] base1 = RandomLayers.Make(901, "base1", files: 20, 1 << 10, 64 << 10).Tar;
        byte[] base2 = RandomLayers.Make(902, "base2", files: 20, 1 << 10, 64 << 10).Tar;
        byte[] added = RandomLayers.Make(903, "added", files: 20, 1 << 10, 64 << 10).Tar;
        await CacheCli.PushAsync(Registries, "cache/share-a", [base1, base2], Token);
        await CacheCli.PushAsync(Registries, "cache/share-b", [base1, base2, added], Token);
        await using var proxy = new RegistryFaultProxy(Registries.Anonymous.Port, _ => Fault.None);
        string cache = Path.Combine(Images.NewScratchDirectory("sharing-cache"), "cache");

        var first = await CacheCli.ExportAsync($"docker://{proxy.Host}/cache/share-a:{RealImages.Tag}", NewOutput("a"), cache);
        var blobsOfA = BlobsFetched(proxy);
        proxy.Requests.Clear();
        var second = await CacheCli.ExportAsync($"docker://{proxy.Host}/cache/share-b:{RealImages.Tag}", NewOutput("b"), cache);
        var blobsOfB = BlobsFetched(proxy);

        Assert.Equal((2L, 0L), (first.Cache.LayersConverted, first.Cache.LayersFromCache));
        Assert.Equal((1L, 2L, 3L), (second.Cache.LayersConverted, second.Cache.LayersFromCache, second.Cache.LayersTotal));
        // A fetched its config and both base layers; B fetches its own config and its new layer, nothing of A's.
        Assert.Equal(3, blobsOfA.Count);
        Assert.Equal(2, blobsOfB.Count);
        Assert.Empty(blobsOfA.Intersect(blobsOfB));
        Assert.True(second.Cache.BytesDownloaded > 0 && second.Cache.BytesDownloaded < first.Cache.BytesDownloaded);
        await CacheCli.AssertIntactAsync(cache, Token);
    }

    /// <summary>The distinct blob digests the proxy saw fetched.</summary>
    private static HashSet<string> BlobsFetched(RegistryFaultProxy proxy) =>
        [.. proxy.Requests.Where(r => r.Method == "GET" && r.Path.Contains("/blobs/", StringComparison.Ordinal)).Select(r => r.Path[(r.Path.LastIndexOf('/') + 1)..])];
}
