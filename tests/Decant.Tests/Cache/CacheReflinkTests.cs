using Decant.Tests.Support;

namespace Decant.Tests.Cache;

/// <summary>
/// Issue 9, reflinks: on an XFS filesystem with reflink=1 in a loop file holding both the cache
/// and the target, a warm directory export clones every file from its object (FICLONE) instead of
/// copying it: the summary says every regular file was reflinked and none copied, and the
/// filesystem's used space (statvfs) grows by metadata only. An ext4 image made there from the cache
/// (cold or warm, objects cloned into it) is the same bytes as one made without it.
/// </summary>
public sealed class CacheReflinkTests : CacheScratchTest
{
    [Fact]
    public async Task AWarmDirectoryExportOnXfsReflinksEveryFileAndUsesNoSpaceForData()
    {
        // Three layers of distinct files from 8 to 512 KiB: about 24 MiB of data in 90 files.
        var layers = Enumerable.Range(0, 3).Select(i => RandomLayers.Make(seed: 90 + i, $"layer{i}", files: 30, 8 << 10, 512 << 10)).ToList();
        long dataBytes = layers.Sum(l => l.ContentBytes);
        string image = SyntheticImage.WriteLayout(Scratch.Combine("image"), layers.Select(l => l.Tar));
        string referenceOutput = Scratch.Combine("no-cache");
        await CacheCli.ExportAsync(image, referenceOutput, cache: null);
        var expected = await TreeSnapshot.CaptureAsync(referenceOutput, cancellationToken: Token);
        int regularFiles = expected.Entries.Values.Count(e => e.Type == SnapshotEntryType.RegularFile);

        await using var xfs = await LoopFilesystem.CreateAsync(LoopFilesystemKind.XfsReflink, 1L << 30, Token);
        string cache = xfs.Combine("cache");
        var cold = await CacheCli.ExportAsync(image, xfs.Combine("cold"), cache);
        Assert.Equal(3, cold.Cache.LayersConverted);
        Directory.Delete(xfs.Combine("cold"), recursive: true);
        long before = await xfs.UsedBytesAsync(Token);

        var warm = await CacheCli.ExportAsync(image, xfs.Combine("warm"), cache);

        long growth = await xfs.UsedBytesAsync(Token) - before;
        TreeSnapshotAssert.Equal(expected, await TreeSnapshot.CaptureAsync(xfs.Combine("warm"), cancellationToken: Token));
        Assert.Equal(new { FromCache = 3L, Converted = 0L, Downloaded = 0L }, new { FromCache = warm.Cache.LayersFromCache, Converted = warm.Cache.LayersConverted, Downloaded = warm.Cache.BytesDownloaded });
        Assert.Equal(regularFiles, warm.Files);
        Assert.Equal(new { Reflinked = (long)regularFiles, Copied = 0L, BytesReflinked = dataBytes, BytesCopied = 0L },
            new { Reflinked = warm.Cache.FilesReflinked, Copied = warm.Cache.FilesCopied, warm.Cache.BytesReflinked, warm.Cache.BytesCopied });
        // Inodes, directory blocks and refcount records: far below the data (a copy would take all of it).
        Assert.True(growth < dataBytes / 10, $"a warm export of {dataBytes} bytes of data grew the used space by {growth} bytes");
    }

    [Fact]
    public async Task AnExt4ImageFromTheCacheOnXfsIsTheSameBytesAsOneWithout()
    {
        // Files over the small-object limit with all-zero blocks inside: their objects must keep
        // those blocks as holes that the filesystem reports exactly (XFS's speculative reservation
        // past a growing file's end would make them read as data), so placing them allocates as
        // streaming does.
        var random = new Random(11);
        byte[] Bytes(int size)
        {
            byte[] bytes = new byte[size];
            random.NextBytes(bytes);
            return bytes;
        }
        const int Block = 4096;
        byte[] WithZeroBlocks(params int[] zeroBlocks)
        {
            // 300 blocks (1.2 MB) of random bytes, with the given blocks all zero.
            byte[] bytes = Bytes(300 * Block);
            foreach (int block in zeroBlocks)
            {
                bytes.AsSpan(block * Block, Block).Clear();
            }
            return bytes;
        }
        var layers = new[]
        {
            new LayerTar().Dir("d").File("d/a", WithZeroBlocks(45, 86, 197, 267)).File("d/small", Bytes(5_000)).ToArray(),
            new LayerTar().File("d/b", WithZeroBlocks(10, 11, 150, 299)).File("d/tail", [.. Bytes(70_001)]).ToArray(),
            new LayerTar().File("d/c", WithZeroBlocks(0, 1, 2, 100, 200)).File("d/a", WithZeroBlocks(120)).ToArray(),
        };
        string image = SyntheticImage.WriteLayout(Scratch.Combine("image"), layers);
        await using var xfs = await LoopFilesystem.CreateAsync(LoopFilesystemKind.XfsReflink, 1L << 30, Token);
        string cache = xfs.Combine("cache");
        await CacheCli.ExportAsync(image, xfs.Combine("no-cache.ext4"), cache: null, format: "ext4");
        var cold = await CacheCli.ExportAsync(image, xfs.Combine("cold.ext4"), cache, format: "ext4");
        var warm = await CacheCli.ExportAsync(image, xfs.Combine("warm.ext4"), cache, format: "ext4");

        Assert.Equal((3L, 3L), (cold.Cache.LayersConverted, warm.Cache.LayersFromCache));
        byte[] expected = await File.ReadAllBytesAsync(xfs.Combine("no-cache.ext4"), Token);
        byte[] coldImage = await File.ReadAllBytesAsync(xfs.Combine("cold.ext4"), Token);
        byte[] warmImage = await File.ReadAllBytesAsync(xfs.Combine("warm.ext4"), Token);
        Assert.True(expected.AsSpan().SequenceEqual(coldImage), "the cold export's image differs from the --no-cache one");
        Assert.True(expected.AsSpan().SequenceEqual(warmImage), "the warm export's image differs from the --no-cache one");
        Assert.True(warm.Cache.FilesReflinked > 0, "no object was reflinked into the image");
    }
}
