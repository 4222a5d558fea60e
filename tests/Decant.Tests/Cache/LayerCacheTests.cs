using System.Diagnostics;
using Decant.Cache;
using Decant.Tests.Support;

namespace Decant.Tests.Cache;

/// <summary>Layer records by diff_id: published whole, trusted only with all their objects, and converted under a lock that other processes (util-linux flock) respect.</summary>
public class LayerCacheTests
{
    private static readonly string DiffId = "sha256:" + new string('a', 64);

    private static Task<string> ConvertAsync(LayerCache cache, byte[] tar) => CacheFixture.ConvertAsync(cache, tar);

    private static byte[] Layer() => new LayerTar().Dir("etc").File("etc/big", new string('x', 50_000)).File("etc/other", new string('y', 3000)).File("tiny", "t").ToArray();

    [Fact]
    public async Task APublishedLayerIsFoundAndRegeneratesExactly()
    {
        using var scratch = new ScratchDirectory();
        var cache = new LayerCache(scratch.Path);
        byte[] tar = Layer();

        string diffId = await ConvertAsync(cache, tar);

        string record = Assert.IsType<string>(await cache.FindAsync(diffId, CancellationToken.None));
        using var regenerated = new MemoryStream();
        await using (var file = File.OpenRead(record))
        {
            await SplitStream.RegenerateAsync(file, cache.Objects, regenerated, CancellationToken.None);
        }
        Assert.Equal(tar, regenerated.ToArray());
        Assert.Empty(Directory.GetFileSystemEntries(scratch.Combine("tmp")));
        Assert.Null(await cache.FindAsync(DiffId, CancellationToken.None));
    }

    [Fact]
    public async Task ALayerMissingAnObjectIsNotTrusted()
    {
        using var scratch = new ScratchDirectory();
        var cache = new LayerCache(scratch.Path);
        string diffId = await ConvertAsync(cache, Layer());
        // Every content is an object; the record refers to those over the inline limit, such as etc/big's.
        var big = Directory.GetFiles(scratch.Combine("objects"), "*", SearchOption.AllDirectories).Single(f => new FileInfo(f).Length == 50_000);

        File.Delete(big);

        Assert.Null(await cache.FindAsync(diffId, CancellationToken.None));
    }

    [Fact]
    public async Task AFailedConversionPublishesNothing()
    {
        using var scratch = new ScratchDirectory();
        var cache = new LayerCache(scratch.Path);

        await Assert.ThrowsAsync<InvalidOperationException>(() => cache.PublishAsync(DiffId, async (file, cancellationToken) =>
        {
            await file.WriteAsync(new byte[1000], cancellationToken);
            throw new InvalidOperationException("conversion failed");
        }, CancellationToken.None));

        Assert.False(File.Exists(cache.RecordPath(DiffId)));
        Assert.Empty(Directory.GetFileSystemEntries(scratch.Combine("tmp")));
    }

    /// <summary>
    /// Another process (util-linux <c>flock</c>) holds a layer's lock: taking it waits until that
    /// process is killed (-9), which the kernel turns into a release.
    /// </summary>
    [Fact]
    public async Task TheLockWaitsForAnotherProcessAndIsFreedWhenItIsKilled()
    {
        using var scratch = new ScratchDirectory();
        var cache = new LayerCache(scratch.Path);
        string lockFile = scratch.Combine("locks", DiffId[7..]);
        using var holder = await HoldWithFlockAsync("-x", lockFile);

        // The first attempt is made before LockAsync returns, so a task still running is one that waits.
        var taking = cache.LockAsync(DiffId, CancellationToken.None);
        Assert.False(taking.IsCompleted, "the lock must wait while another process holds it");

        holder.Kill(entireProcessTree: true);
        using var held = await taking.WaitAsync(TimeSpan.FromSeconds(30));

        // While this process holds it, a second taker (another open of the lock file) waits too.
        var second = cache.LockAsync(DiffId, CancellationToken.None);
        Assert.False(second.IsCompleted);
        held.Dispose();
        (await second.WaitAsync(TimeSpan.FromSeconds(30))).Dispose();
    }

    /// <summary>Starts util-linux <c>flock</c> holding <paramref name="lockFile"/> (<c>-x</c> or <c>-s</c>) until it is killed; returns once it holds it.</summary>
    private static async Task<Process> HoldWithFlockAsync(string mode, string lockFile)
    {
        var start = new ProcessStartInfo("flock") { RedirectStandardOutput = true, RedirectStandardInput = true, UseShellExecute = false };
        foreach (string argument in new[] { mode, lockFile, "sh", "-c", "echo held; cat" })
        {
            start.ArgumentList.Add(argument);
        }
        var holder = Process.Start(start)!;
        Assert.Equal("held", await holder.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30)));
        return holder;
    }

    /// <summary>Asserts that <paramref name="held"/> is exclusive and that no one else can take the layer's lock in either mode.</summary>
    private static void AssertExclusive(LayerCache cache, LayerLock held)
    {
        Assert.Equal(LockMode.Exclusive, held.Mode);
        Assert.Null(cache.TryLock(DiffId, LockMode.Shared));
        Assert.Null(cache.TryLock(DiffId, LockMode.Exclusive));
    }

    [Fact]
    public async Task SharedLocksCoexistAndKeepAnExclusiveOneWaiting()
    {
        using var scratch = new ScratchDirectory();
        var cache = new LayerCache(scratch.Path);
        using var first = await cache.LockAsync(DiffId, LockMode.Shared, CancellationToken.None);
        var second = Assert.IsType<LayerLock>(cache.TryLock(DiffId, LockMode.Shared));

        Assert.Null(cache.TryLock(DiffId, LockMode.Exclusive));
        var exclusive = cache.LockAsync(DiffId, LockMode.Exclusive, CancellationToken.None);
        Assert.False(exclusive.IsCompleted);

        first.Dispose();
        Assert.False(exclusive.IsCompleted, "one shared holder is left");
        second.Dispose();
        using var held = await exclusive.WaitAsync(TimeSpan.FromSeconds(30));
        AssertExclusive(cache, held);
    }

    /// <summary>util-linux <c>flock -s</c> in another process shares the lock with this one and keeps conversions out until it dies.</summary>
    [Fact]
    public async Task AnotherProcessSharedLockAdmitsUsersAndKeepsConversionsOut()
    {
        using var scratch = new ScratchDirectory();
        var cache = new LayerCache(scratch.Path);
        using var holder = await HoldWithFlockAsync("-s", scratch.Combine("locks", DiffId[7..]));

        using (var user = cache.TryLock(DiffId, LockMode.Shared))
        {
            Assert.NotNull(user);
        }
        Assert.Null(cache.TryLock(DiffId, LockMode.Exclusive));
        var converting = cache.LockAsync(DiffId, CancellationToken.None);
        Assert.False(converting.IsCompleted);

        holder.Kill(entireProcessTree: true);
        using var held = await converting.WaitAsync(TimeSpan.FromSeconds(30));
        AssertExclusive(cache, held);
    }

    /// <summary>A user waits for a conversion in progress; the converter downgrades to use the layer itself, which lets the user in.</summary>
    [Fact]
    public async Task AConversionKeepsUsersWaitingUntilItDowngrades()
    {
        using var scratch = new ScratchDirectory();
        var cache = new LayerCache(scratch.Path);
        using var converter = await cache.LockAsync(DiffId, CancellationToken.None);
        var user = cache.LockAsync(DiffId, LockMode.Shared, CancellationToken.None);
        Assert.False(user.IsCompleted);

        await converter.ChangeAsync(LockMode.Shared, CancellationToken.None);

        using var other = await user.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(LockMode.Shared, converter.Mode);
        Assert.Null(cache.TryLock(DiffId, LockMode.Exclusive));

        // Upgrading waits for the other user to let go.
        var upgrade = converter.ChangeAsync(LockMode.Exclusive, CancellationToken.None);
        Assert.False(upgrade.IsCompleted);
        other.Dispose();
        await upgrade.WaitAsync(TimeSpan.FromSeconds(30));
        AssertExclusive(cache, converter);
    }

    [Fact]
    public async Task ACancelledWaitTakesNothingAndACancelledUpgradeLetsGo()
    {
        using var scratch = new ScratchDirectory();
        var cache = new LayerCache(scratch.Path);
        using var other = await cache.LockAsync(DiffId, LockMode.Shared, CancellationToken.None);
        var mine = await cache.LockAsync(DiffId, LockMode.Shared, CancellationToken.None);
        using var cancel = new CancellationTokenSource();

        var waiting = cache.LockAsync(DiffId, LockMode.Exclusive, cancel.Token);
        var upgrade = mine.ChangeAsync(LockMode.Exclusive, cancel.Token);
        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => upgrade);
        other.Dispose();
        // Neither the cancelled waiter nor the cancelled upgrade holds anything.
        using var exclusive = cache.TryLock(DiffId, LockMode.Exclusive);
        Assert.NotNull(exclusive);
    }

    /// <summary>
    /// Maintenance removes a lock file under its exclusive lock while a waiter has the old file open:
    /// the waiter must end up holding the file now at the path, or two processes would each hold "the" lock.
    /// </summary>
    [Fact]
    public async Task AWaiterOnALockFileThatIsRemovedLocksTheNewOne()
    {
        using var scratch = new ScratchDirectory();
        var cache = new LayerCache(scratch.Path);
        var remover = Assert.IsType<LayerLock>(cache.TryLock(DiffId, LockMode.Exclusive));
        var waiter = cache.LockAsync(DiffId, LockMode.Exclusive, CancellationToken.None);
        Assert.False(waiter.IsCompleted);

        remover.DeleteFile();
        remover.Dispose();

        using var held = await waiter.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(File.Exists(scratch.Combine("locks", DiffId[7..])));
        AssertExclusive(cache, held);
    }

    [Fact]
    public async Task ConversionsShareGcLockAndKeepTheSweepOut()
    {
        using var scratch = new ScratchDirectory();
        var cache = new LayerCache(scratch.Path);
        var first = await cache.HoldForConversionAsync(CancellationToken.None);
        var second = await cache.HoldForConversionAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Null(cache.TryLockSweep());
        var sweep = cache.LockSweepAsync(CancellationToken.None);
        Assert.False(sweep.IsCompleted);
        first.Dispose();
        second.Dispose();
        using var sweeping = await sweep.WaitAsync(TimeSpan.FromSeconds(30));

        var conversion = cache.HoldForConversionAsync(CancellationToken.None);
        Assert.False(conversion.IsCompleted, "a conversion waits for a sweep in progress");
        sweeping.Dispose();
        (await conversion.WaitAsync(TimeSpan.FromSeconds(30))).Dispose();
    }

    [Fact]
    public async Task MarkUsedMovesALayersLastUseToNow()
    {
        using var scratch = new ScratchDirectory();
        var cache = new LayerCache(scratch.Path);
        string diffId = await ConvertAsync(cache, Layer());
        CacheFixture.SetLastUse(cache, diffId, DateTimeOffset.UnixEpoch);
        var before = DateTime.UtcNow.AddSeconds(-1);

        cache.MarkUsed(diffId);
        cache.MarkUsed(DiffId); // no record: nothing happens

        Assert.InRange(File.GetLastWriteTimeUtc(cache.RecordPath(diffId)), before, DateTime.UtcNow.AddSeconds(1));
        Assert.False(File.Exists(cache.RecordPath(DiffId)));
    }

    [Fact]
    public async Task AnImageIsRecordedWholeAndReplacedByItsNextUse()
    {
        using var scratch = new ScratchDirectory();
        var cache = new LayerCache(scratch.Path);
        string manifest = "sha256:" + new string('c', 64);
        var first = new ImageUse("alpine:3.20", manifest, "linux/amd64", [DiffId, "sha256:" + new string('b', 64)], new DateTimeOffset(2025, 1, 2, 3, 4, 5, TimeSpan.Zero));
        var again = first with { Reference = "docker.io/library/alpine@" + manifest, LastUsed = first.LastUsed.AddDays(1) };

        await cache.RecordImageAsync(first, CancellationToken.None);
        await cache.RecordImageAsync(again, CancellationToken.None);

        var stored = Assert.Single(await cache.ReadImagesAsync(CancellationToken.None));
        Assert.Equal(scratch.Combine("images", "sha256", manifest[7..]), stored.Path);
        var image = Assert.IsType<ImageUse>(stored.Image);
        Assert.Equal((again.Reference, again.ManifestDigest, again.Platform, again.LastUsed), (image.Reference, image.ManifestDigest, image.Platform, image.LastUsed));
        Assert.Equal(again.Layers, image.Layers);
        Assert.Empty(Directory.GetFileSystemEntries(scratch.Combine("tmp")));
    }
}
