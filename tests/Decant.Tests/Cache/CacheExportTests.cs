using Decant.Cache;
using Decant.Export;
using Decant.Tests.Conformance;
using Decant.Tests.Support;
using Decant.Writers;

namespace Decant.Tests.Cache;

/// <summary>
/// Real images (umoci's and buildah's, gzip and zstd, and the sample) through the layer cache, for
/// every output format: a cold export fills the cache, a warm one reads every layer from it, and
/// both equal an export without the cache (the same tree; for tar and ext4 the same bytes); a gzip
/// image and its zstd copy share every entry; the cache keeps to its bound.
/// </summary>
[Collection(UsesRealImages.Name)]
public sealed class CacheExportTests(RealImages images) : RealImagesTest(images)
{
    public static TheoryData<string, OutputFormat> ImagesAndFormats()
    {
        var data = new TheoryData<string, OutputFormat>();
        foreach (string image in new[] { "umoci-multi", "umoci-multi-zstd", "buildah-opaque", "sample" })
        {
            foreach (var format in Formats.All)
            {
                data.Add(image, format);
            }
        }
        return data;
    }

    private string Reference(string image) =>
        "oci:" + (image == "sample" ? Images.SampleBusybox : Path.Combine(Images.CorpusDirectory, image)) + ":" + RealImages.Tag;

    private Task<ExportResult> ExportAsync(string image, string output, OutputFormat format, DecantCache? cache) =>
        ImageExporter.ExportAsync(Reference(image), new ExportOptions { Output = output, Format = format, Cache = cache }, cancellationToken: Token);

    [Theory]
    [MemberData(nameof(ImagesAndFormats))]
    public async Task WarmAndColdExportsEqualAnExportWithoutTheCache(string image, OutputFormat format)
    {
        using var scratch = new ScratchDirectory();
        var cache = DecantCache.Open(scratch.Combine("cache"));
        string Output(string name) => scratch.Combine(name + "-" + Formats.OutputName(format));

        var plain = await ExportAsync(image, Output("plain"), format, null);
        var cold = await ExportAsync(image, Output("cold"), format, cache);
        var warm = await ExportAsync(image, Output("warm"), format, cache);

        int layers = plain.Image.Layers.Count;
        Assert.Equal((layers, 0L, layers, 0L), (plain.Cache.LayersConverted, plain.Cache.LayersFromCache, cold.Cache.LayersConverted, cold.Cache.LayersFromCache));
        Assert.Equal((0L, layers, 0L, 0L), (warm.Cache.LayersConverted, warm.Cache.LayersFromCache, warm.Cache.BytesDownloaded, warm.Cache.BytesDecompressed));
        Assert.True(cold.Cache.BytesDownloaded > 0 && cold.Cache.BytesDecompressed == plain.UncompressedBytes);
        Assert.Equal(plain.Summary, warm.Summary);
        if (format.IsDirectory)
        {
            // Names are bytes (the corpus has names that are not UTF-8): compared by find, diff and getfattr.
            string expected = await DirectoryFingerprintAsync(Output("plain"));
            Assert.Equal(expected, await DirectoryFingerprintAsync(Output("cold")));
            Assert.Equal(expected, await DirectoryFingerprintAsync(Output("warm")));
        }
        else
        {
            byte[] expected = await File.ReadAllBytesAsync(Output("plain"), Token);
            byte[] coldBytes = await File.ReadAllBytesAsync(Output("cold"), Token);
            byte[] warmBytes = await File.ReadAllBytesAsync(Output("warm"), Token);
            Assert.True(expected.AsSpan().SequenceEqual(coldBytes), "a cold export through the cache must give the same bytes");
            Assert.True(expected.AsSpan().SequenceEqual(warmBytes), "a warm export from the cache must give the same bytes");
        }
        var verified = await cache.VerifyAsync(Token);
        Assert.True(verified.Clean);
        Assert.Equal(layers, verified.LayersChecked);
    }

    [Fact]
    public async Task AGzipImageAndItsZstdCopyShareEveryEntry()
    {
        using var scratch = new ScratchDirectory();
        var cache = DecantCache.Open(scratch.Combine("cache"));
        var gzip = await ExportAsync("umoci-multi", scratch.Combine("gzip"), OutputFormat.Directory, cache);
        var zstd = await ExportAsync("umoci-multi-zstd", scratch.Combine("zstd"), OutputFormat.Directory, cache);

        Assert.Equal(gzip.Image.DiffIds, zstd.Image.DiffIds);
        Assert.NotEqual(gzip.Image.Layers.Select(l => l.Digest), zstd.Image.Layers.Select(l => l.Digest));
        Assert.Equal((0L, zstd.Image.Layers.Count, 0L), (zstd.Cache.LayersConverted, zstd.Cache.LayersFromCache, zstd.Cache.BytesDownloaded));
        Assert.Equal(gzip.Image.Layers.Count, (await cache.ListAsync(Token)).Layers.Count);
    }

    [Fact]
    public async Task AnExportKeepsTheCacheWithinItsBoundDroppingTheLeastRecentlyUsedLayers()
    {
        using var scratch = new ScratchDirectory();
        // Two images that share no content: each fits the bound, both together do not.
        string ImageOf(string name, int seed)
        {
            byte[] random = new byte[225_000];
            new Random(seed).NextBytes(random);
            return SyntheticImage.WriteLayout(scratch.Combine(name), [new LayerTar().Dir("data").File("data/blob", Convert.ToBase64String(random)).ToArray(), new LayerTar().File("data/" + name, name).ToArray()]);
        }
        string first = ImageOf("first", 1), second = ImageOf("second", 2);
        var cache = DecantCache.Open(scratch.Combine("cache"), maxBytes: 500_000);
        var options = new ExportOptions { Output = scratch.Combine("out.tar"), Force = true, Cache = cache };

        var dropped = await ImageExporter.ExportAsync(first, options, cancellationToken: Token);
        var kept = await ImageExporter.ExportAsync(second, options, cancellationToken: Token);

        // Least recently used first: the first image's big layer goes, which is enough; the second image stays whole.
        var cached = (await cache.ListAsync(Token)).Layers.Select(l => l.DiffId).ToHashSet(StringComparer.Ordinal);
        Assert.Superset(kept.Image.DiffIds.Select(d => d.ToString()).ToHashSet(StringComparer.Ordinal), cached);
        Assert.DoesNotContain(dropped.Image.DiffIds[0].ToString(), cached);
        Assert.InRange((await cache.DiskUsageAsync(Token)).TotalBytes, 300_000, 500_000);
        var again = await ImageExporter.ExportAsync(first, options, cancellationToken: Token);
        Assert.InRange(again.Cache.LayersConverted, 1, 2);
    }

    /// <summary>Every entry's path, type, mode, owner, size, mtime, link count and target, and every xattr, as the kernel reports them.</summary>
    private async Task<string> DirectoryFingerprintAsync(string root)
    {
        var entries = await Tools.RunCheckedAsync("find", [root, "-mindepth", "1", "-printf", "%P %y %m %U:%G %s %T@ %n %l\n"], Token);
        var xattrs = await Tools.RunCheckedAsync("getfattr", ["-R", "-h", "-d", "-m", "-", "-e", "hex", "."], Token, root);
        var contents = await Tools.RunCheckedAsync("find", [".", "-type", "f", "-exec", "sha256sum", "{}", "+"], Token, root);
        return string.Join('\n', entries.StandardOutput.Split('\n').Order(StringComparer.Ordinal)) + "\n" + xattrs.StandardOutput + "\n"
            + string.Join('\n', contents.StandardOutput.Split('\n').Order(StringComparer.Ordinal));
    }
}
