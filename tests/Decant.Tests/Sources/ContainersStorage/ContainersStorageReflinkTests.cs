using System.Text.Json;
using Decant.Tests.Differential;
using Decant.Tests.Support;
using Xunit.Abstractions;

namespace Decant.Tests.Sources.ContainersStorage;

/// <summary>
/// What an export from a store reports in the JSON summary's <c>cache</c> object, and that on one
/// XFS filesystem with reflinks (the store, the cache and the output on it) file contents are shared,
/// not copied: every file with content reflinked, and the filesystem's used space grows by metadata
/// only. "Files with content" are the regular-file entries of the image's layers that are not
/// empty: a containers-storage layer's files are placed from the store's files, each counted once,
/// the small ones too (even those of 64 bytes or less, which a layer record keeps inline).
/// </summary>
[Collection(UsesContainersStores.Name)]
public sealed class ContainersStorageReflinkTests(ContainersStores stores, ITestOutputHelper log) : ContainersStorageTest(stores)
{
    /// <summary>
    /// At most this much more space used on the XFS filesystem after the export, for metadata: the
    /// output's and the cache's inodes, directories, layer records and reflink records. The image's
    /// files hold about 6 MiB (busybox, 4 MiB of data, 100 KiB and small files); the growth measured
    /// with a new cache on the filesystem is about 100 KiB.
    /// </summary>
    private const long MetadataBound = 1L << 20;

    [Fact]
    public async Task SummaryCountsEveryFileWithContentAsReflinkedOrCopied()
    {
        // The store and the fresh cache are on this machine's root filesystem (ext4: no reflinks).
        var (_, summary) = await ExportAsync(Stores.Overlay.Reference(), "dir");
        var cache = summary.GetProperty("cache");
        var (files, bytes) = await ContentAsync(Stores.Overlay);
        log.WriteLine($"cache: {cache}; {files} files with content, {bytes} bytes");

        Assert.Equal(files, Long(cache, "filesReflinked") + Long(cache, "filesCopied"));
        Assert.Equal(bytes, Long(cache, "bytesReflinked") + Long(cache, "bytesCopied"));
        string filesystem = (await Tools.RunCheckedAsync("stat", ["-f", "-c", "%T", Stores.Overlay.GraphRoot], Token)).StandardOutput.Trim();
        if (filesystem == "ext2/ext3")
        {
            Assert.Equal(0, Long(cache, "filesReflinked")); // ext4 shares no blocks: every file is copied
        }
        Assert.Equal(Stores.Overlay.Image.Layers.Count, Long(cache, "layersTotal"));
    }

    [Fact]
    public async Task OnXfsWithReflinksEveryFileIsReflinkedAndOnlyMetadataIsWritten()
    {
        await using var xfs = await LoopFilesystem.CreateAsync(LoopFilesystemKind.XfsReflink, 512L << 20, Token);
        var store = await Stores.CopyAsync(Stores.Overlay, xfs.Combine("store"), Token);
        string output = xfs.Combine("out", "rootfs");
        string cache = xfs.Combine("cache");
        long before = await xfs.UsedBytesAsync(Token);

        var result = await DecantAsync("export", store.Reference(), "-o", output, "--format", "dir", "--progress", "json", "--cache", cache);
        Assert.True(result.ExitCode == 0, $"decant export exited with {result.ExitCode}:\n{result.StandardError}");
        long grown = await xfs.UsedBytesAsync(Token) - before;
        var counts = Summary(result).GetProperty("cache");
        var (files, bytes) = await ContentAsync(store);
        long fileBytes = await ContentBytesAsync(output);
        log.WriteLine($"cache: {counts}; {files} files with content ({bytes} bytes in the layers, {fileBytes} in the output); used space grew by {grown} bytes");

        Assert.Equal(0, Long(counts, "filesCopied"));
        Assert.Equal(0, Long(counts, "bytesCopied"));
        Assert.Equal(files, Long(counts, "filesReflinked"));
        Assert.Equal(bytes, Long(counts, "bytesReflinked"));
        Assert.True(grown < MetadataBound, $"used space grew by {grown} bytes for {fileBytes} bytes of files: more than the {MetadataBound} bytes of metadata allowed");
        Assert.True(fileBytes > 3 * MetadataBound, $"the output's files hold only {fileBytes} bytes, too few to tell sharing from copying");
        TreeSnapshotAssert.Equal(store.Image.RegistryTree, await SnapshotAsync(output));
    }

    /// <summary>The regular-file entries of the image's layers (as skopeo copied them) that have content, and their bytes.</summary>
    private async Task<(long Files, long Bytes)> ContentAsync(ContainersStore store)
    {
        long files = 0, bytes = 0;
        foreach (var layer in await LayoutLayersAsync(store))
        {
            await foreach (var entry in LayerEntries.ReadAsync(layer, Token))
            {
                if (entry.IsRegularFile && entry.Length > 0)
                {
                    files++;
                    bytes += entry.Length;
                }
            }
        }
        Assert.True(files >= 20, $"the image has only {files} files with content");
        return (files, bytes);
    }

    /// <summary>The bytes of the regular files in a directory tree (each inode once).</summary>
    private async Task<long> ContentBytesAsync(string directory) =>
        (await SnapshotAsync(directory)).Entries.Values
            .Where(entry => entry.Type == SnapshotEntryType.RegularFile)
            .DistinctBy(entry => entry.HardlinkGroup.Count > 0 ? entry.HardlinkGroup[0] : entry.Path)
            .Sum(entry => entry.Size);

    private static long Long(JsonElement element, string name) => element.GetProperty(name).GetInt64();
}
