using Decant.Cache;
using Decant.Tests.Support;
using static Decant.Tests.Cache.CacheFixture;

namespace Decant.Tests.Cache;

/// <summary>
/// List, du, prune, gc and verify on real caches built through the indexer, with locks held the way
/// exports and conversions hold them. Expected numbers come from the layers' contents (fs-verity
/// digests of what the tars hold) and from stat(1), not from the code under test.
/// </summary>
public class CacheMaintenanceTests
{
    // Contents over the recorder's inline limit (64 bytes) are referenced objects; "tiny" is stored as an object but kept inline in the record.
    private static readonly string Shared = new('s', 40_000), OnlyA = new('a', 20_000), OnlyB = new('b', 9000), OnlyC = new('c', 70_000);
    private static readonly byte[] LayerA = Layer(("shared", Shared), ("a", OnlyA), ("tiny", "t"));
    private static readonly byte[] LayerB = Layer(("shared", Shared), ("b", OnlyB));
    private static readonly byte[] LayerC = Layer(("c", OnlyC));
    private static readonly DateTimeOffset Monday = new(2025, 3, 3, 9, 0, 0, TimeSpan.Zero);

    /// <summary>What prune measures the cache by: records, the objects they refer to, images (what gc would sweep does not count).</summary>
    private static long PrunedSize(CacheUsage usage) => usage.RecordBytes + usage.ObjectBytes - usage.ReclaimableBytes + usage.ImageBytes;

    private static string RecordOf(LayerCache cache, string diffId) => cache.RecordPath(diffId);

    private static string[] PathsOf(LayerCache cache, params string[] contents) => [.. contents.Select(content => cache.Objects.PathOf(ObjectOf(content)))];

    /// <summary>A cache holding layers A, B, C (used in that order, A longest ago) and images of A+B and of C.</summary>
    private static async Task<(LayerCache Cache, string A, string B, string C)> ThreeLayersAsync(ScratchDirectory scratch)
    {
        var cache = new LayerCache(scratch.Path);
        string a = await ConvertAsync(cache, LayerA), b = await ConvertAsync(cache, LayerB), c = await ConvertAsync(cache, LayerC);
        SetLastUse(cache, a, Monday);
        SetLastUse(cache, b, Monday.AddDays(1));
        SetLastUse(cache, c, Monday.AddDays(2));
        await cache.RecordImageAsync(new ImageUse("app:1", "sha256:" + new string('1', 64), "linux/amd64", [a, b], Monday.AddDays(1)), CancellationToken.None);
        await cache.RecordImageAsync(new ImageUse("tool:2", "sha256:" + new string('2', 64), "linux/arm64", [c], Monday.AddDays(2)), CancellationToken.None);
        return (cache, a, b, c);
    }

    [Fact]
    public async Task ListCountsEachLayersRecordAndObjectsExactly()
    {
        using var scratch = new ScratchDirectory();
        var (cache, a, b, c) = await ThreeLayersAsync(scratch);

        var listing = await new CacheMaintenance(cache).ListAsync(CancellationToken.None);

        Assert.Equal([c, b, a], listing.Layers.Select(layer => layer.DiffId));
        var layerA = listing.Layers.Single(layer => layer.DiffId == a);
        Assert.Equal(await AllocatedAsync(RecordOf(cache, a)), layerA.RecordBytes);
        Assert.Equal(2, layerA.ObjectCount);
        Assert.Equal(await AllocatedAsync(PathsOf(cache, Shared, OnlyA)), layerA.ObjectBytes);
        Assert.True(layerA.Complete);
        Assert.Equal(Monday, layerA.LastUsed);
        Assert.Equal(["app:1"], layerA.Images);
        Assert.Equal(["tool:2"], listing.Layers.Single(layer => layer.DiffId == c).Images);

        Assert.Equal(["tool:2", "app:1"], listing.Images.Select(image => image.Image.Reference));
        var app = listing.Images.Single(image => image.Image.Reference == "app:1");
        Assert.Equal(2, app.CachedLayers);
        Assert.Equal([a, b], app.Image.Layers);
        // The shared object counts once for the image.
        Assert.Equal(await AllocatedAsync([RecordOf(cache, a), RecordOf(cache, b), .. PathsOf(cache, Shared, OnlyA, OnlyB)]), app.Bytes);
    }

    [Fact]
    public async Task ALayerMissingAnObjectIsListedIncomplete()
    {
        using var scratch = new ScratchDirectory();
        var (cache, a, b, _) = await ThreeLayersAsync(scratch);
        File.Delete(cache.Objects.PathOf(ObjectOf(OnlyA)));

        var listing = await new CacheMaintenance(cache).ListAsync(CancellationToken.None);

        var layerA = listing.Layers.Single(layer => layer.DiffId == a);
        Assert.False(layerA.Complete);
        Assert.Equal(2, layerA.ObjectCount);
        Assert.Equal(await AllocatedAsync(PathsOf(cache, Shared)), layerA.ObjectBytes);
        Assert.True(listing.Layers.Single(layer => layer.DiffId == b).Complete);
    }

    [Fact]
    public async Task DiskUsageAddsUpEveryKindOfFile()
    {
        using var scratch = new ScratchDirectory();
        var (cache, a, b, c) = await ThreeLayersAsync(scratch);
        await File.WriteAllBytesAsync(cache.Objects.NewTemporaryPath(), new byte[5000]);
        string[] objectFiles = ObjectFiles(cache);
        string[] referenced = PathsOf(cache, Shared, OnlyA, OnlyB, OnlyC);
        string[] images = Directory.GetFiles(scratch.Combine("images", "sha256"));

        var usage = await new CacheMaintenance(cache).DiskUsageAsync(CancellationToken.None);

        Assert.Equal(3, usage.Records);
        Assert.Equal(await AllocatedAsync(RecordOf(cache, a), RecordOf(cache, b), RecordOf(cache, c)), usage.RecordBytes);
        Assert.Equal(objectFiles.Length, usage.Objects);
        Assert.Contains(cache.Objects.PathOf(ObjectOf("t")), objectFiles);
        Assert.Equal(await AllocatedAsync(objectFiles), usage.ObjectBytes);
        Assert.Equal(objectFiles.Sum(file => new FileInfo(file).Length), usage.ObjectApparentBytes);
        Assert.Equal(2, usage.Images);
        Assert.Equal(await AllocatedAsync(images), usage.ImageBytes);
        Assert.Equal(objectFiles.Length - referenced.Length, usage.UnreferencedObjects);
        Assert.Equal(await AllocatedAsync([.. objectFiles.Except(referenced)]), usage.ReclaimableBytes);
        Assert.Equal(1, usage.TemporaryFiles);
        Assert.Equal(await AllocatedAsync(Directory.GetFiles(scratch.Combine("tmp"))), usage.TemporaryBytes);
        Assert.Equal(usage.RecordBytes + usage.ObjectBytes + usage.ImageBytes + usage.TemporaryBytes, usage.TotalBytes);
    }

    [Fact]
    public async Task PruneRemovesTheLeastRecentlyUsedLayersUntilTheCacheFits()
    {
        using var scratch = new ScratchDirectory();
        var (cache, a, b, c) = await ThreeLayersAsync(scratch);
        var maintenance = new CacheMaintenance(cache);
        var usage = await maintenance.DiskUsageAsync(CancellationToken.None);
        long kept = PrunedSize(usage);
        // Removing A frees its record and its own object; the shared one stays with B.
        long aAlone = await AllocatedAsync([RecordOf(cache, a), .. PathsOf(cache, OnlyA)]);

        var report = await maintenance.PruneAsync(kept - aAlone, olderThan: null, nonBlocking: false, CancellationToken.None);

        Assert.Equal([a], report.LayersRemoved);
        Assert.Empty(report.LayersInUse);
        Assert.True(report.Sweep.ObjectsSwept);
        Assert.False(File.Exists(RecordOf(cache, a)));
        Assert.All(PathsOf(cache, Shared, OnlyB, OnlyC), path => Assert.True(File.Exists(path)));
        Assert.False(File.Exists(PathsOf(cache, OnlyA)[0]));
        Assert.False(File.Exists(cache.Objects.PathOf(ObjectOf("t"))), "an object no record refers to is swept");
        Assert.Equal(aAlone + usage.ReclaimableBytes, report.BytesFreed);
        Assert.Equal(0, report.Sweep.ImagesRemoved); // app:1 still has B
        Assert.NotNull(await cache.FindAsync(b, CancellationToken.None));

        // One byte less than what is left: B goes next, and with it the last layer of app:1.
        var after = await maintenance.DiskUsageAsync(CancellationToken.None);
        var next = await maintenance.PruneAsync(after.TotalBytes - 1, olderThan: null, nonBlocking: false, CancellationToken.None);
        Assert.Equal([b], next.LayersRemoved);
        Assert.Equal(1, next.Sweep.ImagesRemoved);
        Assert.Equal(["tool:2"], (await maintenance.ListAsync(CancellationToken.None)).Images.Select(image => image.Image.Reference));
    }

    [Fact]
    public async Task PruneKeepsALayerAnExportIsUsingAndRemovesTheNextInstead()
    {
        using var scratch = new ScratchDirectory();
        var (cache, a, b, c) = await ThreeLayersAsync(scratch);
        var maintenance = new CacheMaintenance(cache);
        var usage = await maintenance.DiskUsageAsync(CancellationToken.None);
        using var export = await cache.LockAsync(a, LockMode.Shared, CancellationToken.None);

        var report = await maintenance.PruneAsync(PrunedSize(usage) - 1, olderThan: null, nonBlocking: true, CancellationToken.None);

        Assert.Equal([a], report.LayersInUse);
        Assert.Equal([b], report.LayersRemoved);
        Assert.NotNull(await cache.FindAsync(a, CancellationToken.None));
        Assert.True(File.Exists(cache.Objects.PathOf(ObjectOf(Shared))), "A still refers to the shared object");
        Assert.False(File.Exists(cache.Objects.PathOf(ObjectOf(OnlyB))));
        Assert.NotNull(await cache.FindAsync(c, CancellationToken.None));
    }

    [Fact]
    public async Task PruneByAgeRemovesOnlyTheLayersUnusedForLonger()
    {
        using var scratch = new ScratchDirectory();
        var (cache, a, b, c) = await ThreeLayersAsync(scratch);
        cache.MarkUsed(b);
        cache.MarkUsed(c);

        var report = await new CacheMaintenance(cache).PruneAsync(maxBytes: null, olderThan: TimeSpan.FromDays(1), nonBlocking: false, CancellationToken.None);

        Assert.Equal([a], report.LayersRemoved);
        Assert.NotNull(await cache.FindAsync(b, CancellationToken.None));
        Assert.NotNull(await cache.FindAsync(c, CancellationToken.None));
        Assert.Equal(0, report.Sweep.ImagesRemoved);
    }

    [Fact]
    public async Task PruneWithoutBoundsRemovesNoLayer()
    {
        using var scratch = new ScratchDirectory();
        var (cache, _, _, _) = await ThreeLayersAsync(scratch);

        var report = await new CacheMaintenance(cache).PruneAsync(maxBytes: null, olderThan: null, nonBlocking: false, CancellationToken.None);

        Assert.Empty(report.LayersRemoved);
        Assert.Equal(1, report.Sweep.ObjectsRemoved); // only "tiny", which no record refers to
        Assert.Equal(3, (await new CacheMaintenance(cache).ListAsync(CancellationToken.None)).Layers.Count(layer => layer.Complete));
    }

    /// <summary>
    /// A conversion holds gc.lock shared while it writes objects no record refers to yet: a waiting
    /// sweep runs only after it published, and a non-blocking one skips the objects; either way its
    /// objects survive.
    /// </summary>
    [Fact]
    public async Task GcKeepsTheObjectsOfAConversionInProgress()
    {
        using var scratch = new ScratchDirectory();
        var cache = new LayerCache(scratch.Path);
        var maintenance = new CacheMaintenance(cache);
        var orphan = await cache.Objects.AddAsync(new MemoryStream(new byte[3000]), 3000, CancellationToken.None);

        var conversion = await cache.HoldForConversionAsync(CancellationToken.None);
        var written = await cache.Objects.AddAsync(new MemoryStream(System.Text.Encoding.UTF8.GetBytes(OnlyC)), OnlyC.Length, CancellationToken.None);
        var waiting = maintenance.GcAsync(nonBlocking: false, CancellationToken.None);
        Assert.False(waiting.IsCompleted, "the sweep waits for the conversion");
        var skipped = await maintenance.GcAsync(nonBlocking: true, CancellationToken.None);
        Assert.False(skipped.ObjectsSwept);
        Assert.Equal(0, skipped.ObjectsRemoved);
        Assert.True(cache.Objects.Contains(written.Digest));
        Assert.True(cache.Objects.Contains(orphan.Digest), "a skipped sweep removes no object");

        string c = await ConvertAsync(cache, LayerC); // the conversion finishes: its record refers to the object it wrote
        conversion.Dispose();
        var swept = await waiting.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.True(swept.ObjectsSwept);
        Assert.Equal(1, swept.ObjectsRemoved);
        Assert.False(cache.Objects.Contains(orphan.Digest));
        Assert.True(cache.Objects.Contains(written.Digest));
        Assert.NotNull(await cache.FindAsync(c, CancellationToken.None));
    }

    [Fact]
    public async Task GcRemovesLeftoversUnusedLockFilesAndImagesWithoutLayers()
    {
        using var scratch = new ScratchDirectory();
        var cache = new LayerCache(scratch.Path);
        string c = await ConvertAsync(cache, LayerC);
        string gone = "sha256:" + new string('d', 64), held = "sha256:" + new string('e', 64);
        (await cache.LockAsync(gone, CancellationToken.None)).Dispose();
        (await cache.LockAsync(c, CancellationToken.None)).Dispose();
        using var holding = await cache.LockAsync(held, LockMode.Shared, CancellationToken.None);
        string leftover = scratch.Combine("tmp", $"{int.MaxValue}.0123"), mine = cache.Objects.NewTemporaryPath();
        await File.WriteAllTextAsync(leftover, "left by a dead process");
        await File.WriteAllTextAsync(mine, "being written");
        await cache.RecordImageAsync(new ImageUse("old", "sha256:" + new string('1', 64), "linux/amd64", [gone], Monday), CancellationToken.None);
        await cache.RecordImageAsync(new ImageUse("kept", "sha256:" + new string('2', 64), "linux/amd64", [gone, c], Monday), CancellationToken.None);
        await File.WriteAllTextAsync(scratch.Combine("images", "sha256", new string('3', 64)), "{not json");

        var report = await new CacheMaintenance(cache).GcAsync(nonBlocking: false, CancellationToken.None);

        Assert.Equal(1, report.LeftoversRemoved);
        Assert.False(File.Exists(leftover));
        Assert.True(File.Exists(mine));
        Assert.Equal(1, report.LockFilesRemoved);
        Assert.False(File.Exists(scratch.Combine("locks", gone[7..])));
        Assert.True(File.Exists(scratch.Combine("locks", c[7..])), "a layer with a record keeps its lock file");
        Assert.True(File.Exists(scratch.Combine("locks", held[7..])), "a held lock file is kept");
        Assert.Equal(2, report.ImagesRemoved);
        Assert.Equal(["kept"], (await cache.ReadImagesAsync(CancellationToken.None)).Select(stored => stored.Image?.Reference));
        Assert.Equal(0, report.ObjectsRemoved);
    }

    [Fact]
    public async Task ACleanCacheVerifiesCleanHashingEachObjectOnce()
    {
        using var scratch = new ScratchDirectory();
        var (cache, _, _, _) = await ThreeLayersAsync(scratch);
        int objects = ObjectFiles(cache).Length;

        var report = await new CacheMaintenance(cache).VerifyAsync(CancellationToken.None);

        Assert.True(report.Clean);
        Assert.Equal(3, report.LayersChecked);
        Assert.Equal(objects, report.ObjectsChecked);
        Assert.Empty(report.BrokenLayers);
        Assert.Equal(objects, ObjectFiles(cache).Length);
    }

    [Fact]
    public async Task VerifyRemovesAnObjectWithAFlippedByteAndTheRecordsUsingIt()
    {
        using var scratch = new ScratchDirectory();
        var (cache, a, b, c) = await ThreeLayersAsync(scratch);
        string shared = cache.Objects.PathOf(ObjectOf(Shared));
        byte[] bytes = await File.ReadAllBytesAsync(shared);
        bytes[12_345] ^= 0x01;
        await File.WriteAllBytesAsync(shared, bytes);

        var report = await new CacheMaintenance(cache).VerifyAsync(CancellationToken.None);

        Assert.False(report.Clean);
        Assert.Equal([ObjectOf(Shared)], report.DamagedObjects);
        Assert.Equal(new[] { a, b }.Order(StringComparer.Ordinal), report.BrokenLayers.Select(layer => layer.DiffId).Order(StringComparer.Ordinal));
        Assert.All(report.BrokenLayers, layer => Assert.True(layer.Removed));
        Assert.All(report.BrokenLayers, layer => Assert.Contains(ObjectOf(Shared), layer.Problem, StringComparison.Ordinal));
        Assert.False(File.Exists(shared));
        Assert.False(File.Exists(RecordOf(cache, a)));
        Assert.False(File.Exists(RecordOf(cache, b)));
        Assert.NotNull(await cache.FindAsync(c, CancellationToken.None));
        Assert.True((await new CacheMaintenance(cache).VerifyAsync(CancellationToken.None)).Clean);
    }

    [Fact]
    public async Task VerifyFindsRecordsThatDoNotRegenerateTheirDiffIdOrCannotBeRead()
    {
        using var scratch = new ScratchDirectory();
        var cache = new LayerCache(scratch.Path);
        string c = await ConvertAsync(cache, LayerC);
        string mislabelled = await ConvertAsync(cache, LayerB, diffId: "sha256:" + new string('f', 64));
        string truncated = "sha256:" + new string('9', 64), inUse = "sha256:" + new string('8', 64);
        byte[] record = await File.ReadAllBytesAsync(RecordOf(cache, c));
        await File.WriteAllBytesAsync(RecordOf(cache, truncated), record[..(record.Length / 2)]);
        await File.WriteAllTextAsync(RecordOf(cache, inUse), "not a split stream");
        using var export = await cache.LockAsync(inUse, LockMode.Shared, CancellationToken.None);

        var report = await new CacheMaintenance(cache).VerifyAsync(CancellationToken.None);

        Assert.Empty(report.DamagedObjects);
        Assert.Equal(4, report.LayersChecked);
        var broken = report.BrokenLayers.ToDictionary(layer => layer.DiffId);
        Assert.Equal([inUse, truncated, mislabelled], broken.Keys.Order(StringComparer.Ordinal));
        Assert.Contains(DiffIdOf(LayerB), broken[mislabelled].Problem, StringComparison.Ordinal);
        Assert.True(broken[mislabelled].Removed);
        Assert.True(broken[truncated].Removed);
        Assert.False(broken[inUse].Removed, "a record an export holds is reported, not removed");
        Assert.Equal(new[] { inUse, c }.Order(StringComparer.Ordinal), cache.EnumerateLayers().Order(StringComparer.Ordinal));
    }
}
