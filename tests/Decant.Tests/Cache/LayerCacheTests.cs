using System.Diagnostics;
using System.Security.Cryptography;
using Decant.Cache;
using Decant.Layers;
using Decant.Tests.Support;

namespace Decant.Tests.Cache;

/// <summary>Layer records by diff_id: published whole, trusted only with all their objects, and converted under a lock that other processes (util-linux flock) respect.</summary>
public class LayerCacheTests
{
    private static readonly string DiffId = "sha256:" + new string('a', 64);

    /// <summary>Reads <paramref name="tar"/> through the indexer into the cache's objects and publishes its record; returns its diff_id.</summary>
    private static async Task<string> ConvertAsync(LayerCache cache, byte[] tar)
    {
        string diffId = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(tar));
        await cache.PublishAsync(diffId, async (file, cancellationToken) =>
        {
            await using var recorder = new SplitStreamRecorder(file);
            await LayerIndexer.IndexAsync("sha256:test", new MemoryStream(tar), diffId, new ObjectContentStore(cache.Objects), new UnpackBudget(long.MaxValue), TarReaderLimits.Default, cancellationToken, recorder: recorder);
        }, CancellationToken.None);
        return diffId;
    }

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
        var start = new ProcessStartInfo("flock") { RedirectStandardOutput = true, RedirectStandardInput = true, UseShellExecute = false };
        foreach (string argument in new[] { "-x", lockFile, "sh", "-c", "echo held; cat" })
        {
            start.ArgumentList.Add(argument);
        }
        using var holder = Process.Start(start)!;
        Assert.Equal("held", await holder.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30)));

        var taking = cache.LockAsync(DiffId, CancellationToken.None);
        await Task.Delay(300);
        Assert.False(taking.IsCompleted, "the lock must wait while another process holds it");

        holder.Kill(entireProcessTree: true);
        using var held = await taking.WaitAsync(TimeSpan.FromSeconds(30));

        // While this process holds it, a second taker (another open of the lock file) waits too.
        var second = cache.LockAsync(DiffId, CancellationToken.None);
        await Task.Delay(100);
        Assert.False(second.IsCompleted);
        held.Dispose();
        (await second.WaitAsync(TimeSpan.FromSeconds(30))).Dispose();
    }
}
