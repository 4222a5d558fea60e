using Decant.Tests.Cli;
using Decant.Tests.Support;

namespace Decant.Tests.Cache;

/// <summary>
/// Issue 9, a full disk: the cache lives on a small ext4 filesystem in a loop file, nearly filled
/// beforehand, so it fills while an export is caching. The export fails with one clear line and
/// the I/O exit code, leaves no output, and leaves nothing in the cache that is not whole: once
/// space is freed, the next export into the same cache is correct and the cache verifies.
/// </summary>
public sealed class CacheFullDiskTests : CacheScratchTest
{
    private const int IOErrorExitCode = 11;
    private const long FreeBytes = 12 << 20;
    [Fact]
    public async Task ACacheThatFillsUpFailsTheExportCleanlyAndWorksOnceThereIsSpace()
    {
        // Two layers of about 16 MiB each, against 12 MiB left on the cache's filesystem.
        var layers = Enumerable.Range(0, 2).Select(i => RandomLayers.Make(seed: 64 + i, $"layer{i}", files: 40, 128 << 10, 700 << 10)).ToList();
        Assert.True(layers.Sum(l => l.ContentBytes) > 2 * FreeBytes, "the image must not fit in the free space");
        string image = SyntheticImage.WriteLayout(Scratch.Combine("image"), layers.Select(l => l.Tar));
        await CacheCli.ExportAsync(image, Scratch.Combine("no-cache"), cache: null);
        var expected = await TreeSnapshot.CaptureAsync(Scratch.Combine("no-cache"), cancellationToken: Token);

        await using var ext4 = await LoopFilesystem.CreateAsync(LoopFilesystemKind.Ext4, 128L << 20, Token);
        string cache = ext4.Combine("cache");
        string filler = ext4.Combine("filler");
        // PreallocationSize is posix_fallocate: the blocks are taken now, not when written.
        new FileStream(filler, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, PreallocationSize = ext4.AvailableBytes - FreeBytes }).Dispose();
        Assert.InRange(ext4.AvailableBytes, FreeBytes / 2, FreeBytes * 2);
        string output = Scratch.Combine("outputs", "full");
        Directory.CreateDirectory(Path.GetDirectoryName(output)!);

        var full = await CliProcess.RunAsync(CacheCli.ExportArguments(image, output, cache));

        CacheCli.AssertFailed(full, IOErrorExitCode, "No space left on device", cache);
        Assert.False(Path.Exists(output), "the failed export must remove its output");
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.GetDirectoryName(output)!));
        Assert.Empty(CacheCli.Temporaries(cache));
        await CacheCli.AssertIntactAsync(cache, Token);

        File.Delete(filler);
        var retry = await CacheCli.ExportAsync(image, Scratch.Combine("outputs", "retry"), cache);

        TreeSnapshotAssert.Equal(expected, await TreeSnapshot.CaptureAsync(Scratch.Combine("outputs", "retry"), cancellationToken: Token));
        Assert.Equal(2, retry.Cache.LayersTotal);
        Assert.Equal(2, retry.Cache.LayersFromCache + retry.Cache.LayersConverted);
        Assert.Empty(CacheCli.Temporaries(cache));
        await CacheCli.AssertIntactAsync(cache, Token);
        Assert.Equal(2, CacheCli.Records(cache).Count);
    }
}
