using System.Security.Cryptography;
using System.Text.Json;
using Decant.Cache;
using Decant.Tests.Cli;
using Decant.Tests.Support;

namespace Decant.Tests.Cache;

/// <summary>The <c>cache</c> object of an export's <c>--progress json</c> summary: what the layer cache did.</summary>
internal sealed record CacheSummary(
    long LayersTotal, long LayersFromCache, long LayersConverted,
    long FilesReflinked, long FilesCopied, long FilesAlreadyPresent,
    long BytesDownloaded, long BytesDecompressed, long BytesReflinked, long BytesCopied)
{
    /// <summary>Reads every field, which must all be present and integers (programs rely on them).</summary>
    public static CacheSummary Parse(JsonElement cache)
    {
        long Field(string name) => cache.GetProperty(name).GetInt64();
        return new(
            Field("layersTotal"), Field("layersFromCache"), Field("layersConverted"),
            Field("filesReflinked"), Field("filesCopied"), Field("filesAlreadyPresent"),
            Field("bytesDownloaded"), Field("bytesDecompressed"), Field("bytesReflinked"), Field("bytesCopied"));
    }
}

/// <summary>A finished CLI export: what it printed, and from its JSON summary the regular file count and the cache statistics.</summary>
internal sealed record CacheExport(ToolResult Result, long Files, CacheSummary Cache);

/// <summary>
/// The CLI as the cache tests drive it: <c>decant export</c> with <c>--cache DIR</c> (or
/// <c>--no-cache</c>) and <c>--progress json</c>, whose last stderr line is the summary event; and
/// the cache's directory as the issue lays it out (<c>objects/XX/REST</c>, <c>layers/sha256/HEX</c>, <c>tmp/</c>).
/// </summary>
internal static class CacheCli
{
    /// <summary>The arguments of an export of <paramref name="reference"/> to <paramref name="output"/> through <paramref name="cache"/> (<c>--no-cache</c> when null).</summary>
    public static string[] ExportArguments(string reference, string output, string? cache, string format = "dir") =>
        ["export", reference, "-o", output, "--format", format, .. cache is null ? (string[])["--no-cache"] : ["--cache", cache], "--progress", "json"];

    /// <summary>Runs the export; fails the test unless it exits 0 and ends with a summary.</summary>
    public static async Task<CacheExport> ExportAsync(string reference, string output, string? cache, string format = "dir")
    {
        var result = await CliProcess.RunAsync(ExportArguments(reference, output, cache, format));
        Assert.True(result.ExitCode == 0, $"`{result.CommandLine}` exited with {result.ExitCode}:\n{result.StandardError}");
        return Read(result);
    }

    /// <summary>The summary of a finished export: the last line of its stderr.</summary>
    public static CacheExport Read(ToolResult result)
    {
        using var json = LastEvent(result, "summary");
        var summary = json.RootElement;
        return new(result, summary.GetProperty("files").GetInt64(), CacheSummary.Parse(summary.GetProperty("cache")));
    }

    /// <summary>
    /// Asserts the export failed with <paramref name="exitCode"/> and ended with one JSON error
    /// event saying so, whose message holds every one of <paramref name="texts"/>, with no stack trace.
    /// </summary>
    public static void AssertFailed(ToolResult result, int exitCode, params string[] texts)
    {
        Assert.True(exitCode == result.ExitCode, $"exit {result.ExitCode}, expected {exitCode}; stderr:\n{result.StandardError}");
        using var json = LastEvent(result, "error");
        string message = json.RootElement.GetProperty("message").GetString()!;
        Assert.Equal(exitCode, json.RootElement.GetProperty("exitCode").GetInt32());
        foreach (string text in texts)
        {
            Assert.Contains(text, message, StringComparison.Ordinal);
        }
        Assert.Single(result.StandardError.Split('\n'), line => line.Contains("\"event\":\"error\"", StringComparison.Ordinal));
        Assert.DoesNotContain("   at ", result.StandardError, StringComparison.Ordinal);
        Assert.DoesNotContain("Exception", result.StandardError, StringComparison.Ordinal);
    }

    /// <summary>The last line of the run's stderr, which must be a JSON event of <paramref name="kind"/>.</summary>
    private static JsonDocument LastEvent(ToolResult result, string kind)
    {
        string last = result.StandardError.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)[^1];
        var json = JsonDocument.Parse(last);
        Assert.True(json.RootElement.GetProperty("event").GetString() == kind, $"the last line on stderr is not a {kind} event:\n{result.StandardError}");
        return json;
    }

    /// <summary>
    /// Pushes an image of <paramref name="layerTars"/> (gzip) to <paramref name="repository"/> on the
    /// shared registries with its digests kept (so requests can be told apart by layer); returns its blobs.
    /// </summary>
    public static async Task<WrittenImage> PushAsync(RegistryFixture registries, string repository, IEnumerable<byte[]> layerTars, CancellationToken cancellationToken)
    {
        using var layout = new SyntheticImage(registries.Images.NewScratchDirectory("cache-image"));
        var image = layout.AddImage(layerTars, LayerCompressionForTest.Gzip);
        layout.Tag(image.Manifest, RealImages.Tag);
        await registries.PushAsync(["--preserve-digests", layout.Reference(RealImages.Tag)], repository, cancellationToken);
        return image;
    }

    /// <summary>The cache's temporary files (in <c>tmp/</c>), which only a running or a dead process leaves.</summary>
    public static List<string> Temporaries(string cache)
    {
        string tmp = Path.Combine(cache, "tmp");
        return Directory.Exists(tmp) ? [.. Directory.EnumerateFileSystemEntries(tmp).Select(p => Path.GetFileName(p)).Order(StringComparer.Ordinal)] : [];
    }

    /// <summary>The diff_ids (<c>sha256:HEX</c>) of the layer records in the cache.</summary>
    public static List<string> Records(string cache)
    {
        string layers = Path.Combine(cache, "layers", "sha256");
        return Directory.Exists(layers) ? [.. Directory.EnumerateFiles(layers).Select(f => "sha256:" + Path.GetFileName(f)).Order(StringComparer.Ordinal)] : [];
    }

    /// <summary>
    /// Checks the cache from outside the CLI (until <c>decant cache verify</c> exists, and
    /// independently of it after): every object is named by the fs-verity digest of its content,
    /// and every layer record regenerates a tar whose sha256 is the record's diff_id. A record
    /// missing an object is one the cache does not trust (it converts the layer again): allowed
    /// only when <paramref name="allowPartial"/> says the test deleted objects itself. A cache that
    /// does not exist yet is intact.
    /// </summary>
    public static async Task AssertIntactAsync(string cache, CancellationToken cancellationToken, bool allowPartial = false)
    {
        if (!Directory.Exists(cache))
        {
            return;
        }
        string objects = Path.Combine(cache, "objects");
        foreach (string file in Directory.Exists(objects) ? Directory.EnumerateFiles(objects, "*", SearchOption.AllDirectories) : [])
        {
            string name = "sha256:" + Path.GetFileName(Path.GetDirectoryName(file)) + Path.GetFileName(file);
            Assert.True(name == await FsVerityDigest.OfFileAsync(file, cancellationToken), $"object {file} does not hold the content its name promises");
        }
        var layers = new LayerCache(cache);
        foreach (string diffId in Records(cache))
        {
            if (await layers.FindAsync(diffId, cancellationToken) is null)
            {
                Assert.True(allowPartial, $"the record of {diffId} is incomplete or names a missing object");
                continue;
            }
            using var tar = new MemoryStream();
            await using (var record = File.OpenRead(layers.RecordPath(diffId)))
            {
                await SplitStream.RegenerateAsync(record, layers.Objects, tar, cancellationToken);
            }
            Assert.True(diffId == "sha256:" + Convert.ToHexStringLower(SHA256.HashData(tar.ToArray())), $"the record of {diffId} does not regenerate its layer");
        }
    }
}

/// <summary>Layers of seeded pseudo-random text files, so cache tests have data of a known size that gzip cannot shrink away.</summary>
internal static class RandomLayers
{
    /// <summary>
    /// A layer holding <c>DIRECTORY/</c> and <paramref name="files"/> files in it of
    /// <paramref name="minBytes"/> to <paramref name="maxBytes"/> bytes each, all different, drawn
    /// from <paramref name="seed"/>; returns the tar and the bytes of content in it.
    /// </summary>
    public static (byte[] Tar, long ContentBytes) Make(int seed, string directory, int files, int minBytes, int maxBytes)
    {
        var random = new Random(seed);
        var tar = new LayerTar().Dir(directory);
        long total = 0;
        for (int i = 0; i < files; i++)
        {
            int size = random.Next(minBytes, maxBytes + 1);
            byte[] noise = new byte[(size * 3 / 4) + 3];
            random.NextBytes(noise);
            tar.File($"{directory}/f{i:D4}", Convert.ToBase64String(noise)[..size]);
            total += size;
        }
        return (tar.ToArray(), total);
    }
}

/// <summary>A base for cache tests that need no shared fixture: a scratch directory, and a cancellation token that fires after three minutes.</summary>
public abstract class CacheScratchTest : IDisposable
{
    private readonly CancellationTokenSource timeout = new(TimeSpan.FromMinutes(3));

    /// <summary>Removed with everything in it when the test ends.</summary>
    protected ScratchDirectory Scratch { get; } = new();

    protected CancellationToken Token => timeout.Token;

    public void Dispose()
    {
        Scratch.Dispose();
        timeout.Dispose();
        GC.SuppressFinalize(this);
    }
}
