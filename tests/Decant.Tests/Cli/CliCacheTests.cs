using System.Globalization;
using System.Text.Json;
using Decant.Tests.Support;

namespace Decant.Tests.Cli;

/// <summary>
/// <c>decant cache ls|du|prune|gc|verify</c> through the built CLI, on a cache that real exports
/// (the sample and a corpus image) filled: what each verb prints, that its numbers match the files
/// on disk, and that what it removes changes what the next export does.
/// </summary>
[Collection(UsesRealImages.Name)]
public sealed class CliCacheTests(RealImages images) : RealImagesTest(images, timeLimit: 5)
{
    private string CorpusImage => "oci:" + Images.UmociMulti + ":" + RealImages.Tag;

    private Task<ToolResult> RunAsync(params string[] arguments)
    {
        var command = CliProcess.Command(arguments);
        return Tools.RunAsync(command[0], command[1..], Token);
    }

    /// <summary>Runs a <c>cache</c> verb with <c>--json</c> on <paramref name="cache"/> and parses its stdout; the exit code must be <paramref name="exitCode"/>.</summary>
    private async Task<JsonElement> CacheJsonAsync(string cache, string verb, int exitCode = 0, params string[] arguments)
    {
        var result = await RunAsync(["cache", verb, "--cache", cache, "--json", .. arguments]);
        Assert.True(result.ExitCode == exitCode, $"exit {result.ExitCode}, expected {exitCode}:\n{result.StandardError}{result.StandardOutput}");
        using var document = JsonDocument.Parse(result.StandardOutput);
        var root = document.RootElement.Clone();
        Assert.Equal(Path.GetFullPath(cache), root.GetProperty("directory").GetString());
        return root;
    }

    /// <summary>Exports <paramref name="image"/> through <paramref name="cache"/> and returns the summary's <c>cache</c> object.</summary>
    private async Task<JsonElement> ExportAsync(string image, string cache)
    {
        string output = Path.Combine(Images.NewScratchDirectory("out"), "rootfs");
        var result = (await RunAsync("export", image, "-o", output, "--cache", cache, "--progress", "json")).EnsureSuccess();
        using var summary = JsonDocument.Parse(result.StandardError.Split('\n', StringSplitOptions.RemoveEmptyEntries)[^1]);
        Assert.Equal("summary", summary.RootElement.GetProperty("event").GetString());
        return summary.RootElement.GetProperty("cache").Clone();
    }

    /// <summary>The manifest digest, platform and layers' diff_ids of <paramref name="image"/>, as <c>decant inspect</c> prints them.</summary>
    private async Task<(string Manifest, string Platform, List<string> DiffIds)> InspectAsync(string image)
    {
        var result = (await RunAsync("inspect", image)).EnsureSuccess();
        using var document = JsonDocument.Parse(result.StandardOutput);
        var root = document.RootElement;
        return (root.GetProperty("manifestDigest").GetString()!, root.GetProperty("platform").GetString()!, [.. root.GetProperty("layers").EnumerateArray().Select(layer => layer.GetProperty("diffId").GetString()!)]);
    }

    /// <summary>Where a new cache can be (nothing is there yet).</summary>
    private string NewCacheDirectory() => Path.Combine(Images.NewScratchDirectory("cache"), "cache");

    /// <summary>A new cache the sample was exported into (converting all its layers), and what <c>decant inspect</c> says of the sample.</summary>
    private async Task<(string Cache, (string Manifest, string Platform, List<string> DiffIds) Sample)> CacheWithTheSampleAsync()
    {
        string cache = NewCacheDirectory();
        var sample = await InspectAsync(CliProcess.SampleImage);
        Assert.Equal(sample.DiffIds.Count, Int(await ExportAsync(CliProcess.SampleImage, cache), "layersConverted"));
        return (cache, sample);
    }

    private static List<string> Strings(JsonElement array) => [.. array.EnumerateArray().Select(item => item.GetString()!)];

    private static int Int(JsonElement element, string name) => element.GetProperty(name).GetInt32();

    private static long Long(JsonElement element, string name) => element.GetProperty(name).GetInt64();

    /// <summary>The files under <paramref name="directory"/> (recursively) with their allocated bytes (st_blocks × 512, as find's %b gives them) and sizes.</summary>
    private async Task<List<(string Path, long Allocated, long Size)>> FilesAsync(string directory)
    {
        var result = (await Tools.RunAsync("find", [directory, "-type", "f", "-printf", "%b %s %p\n"], Token)).EnsureSuccess();
        return [.. result.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => line.Split(' ', 3))
            .Select(parts => (parts[2], long.Parse(parts[0], CultureInfo.InvariantCulture) * 512, long.Parse(parts[1], CultureInfo.InvariantCulture)))];
    }

    /// <summary>An object's digest from its path, <c>objects/XX/REST</c>.</summary>
    private static string DigestOf(string objectPath) => "sha256:" + Path.GetFileName(Path.GetDirectoryName(objectPath)) + Path.GetFileName(objectPath);

    [Fact]
    public async Task LsListsTheImagesAndTheirLayersWithExactCounts()
    {
        string cache = NewCacheDirectory();
        var sample = await InspectAsync(CliProcess.SampleImage);
        var corpus = await InspectAsync(CorpusImage);
        Assert.Equal(sample.DiffIds.Count, Int(await ExportAsync(CliProcess.SampleImage, cache), "layersConverted"));
        Assert.Equal(corpus.DiffIds.Count, Int(await ExportAsync(CorpusImage, cache), "layersConverted"));

        var listing = await CacheJsonAsync(cache, "ls");
        Assert.True(listing.GetProperty("exists").GetBoolean());
        var listed = listing.GetProperty("images").EnumerateArray().ToList();
        Assert.Equal(2, listed.Count);
        // Most recently used first: the corpus image was exported last.
        foreach (var (image, reference, expected) in new[] { (listed[0], CorpusImage, corpus), (listed[1], CliProcess.SampleImage, sample) })
        {
            Assert.Equal(reference, image.GetProperty("reference").GetString());
            Assert.Equal(expected.Manifest, image.GetProperty("manifestDigest").GetString());
            Assert.Equal(expected.Platform, image.GetProperty("platform").GetString());
            Assert.Equal(expected.DiffIds, Strings(image.GetProperty("layers")));
            Assert.Equal(expected.DiffIds.Count, Int(image, "layersCached"));
            Assert.Equal(expected.DiffIds.Count, Int(image, "layersTotal"));
            Assert.True(Long(image, "bytes") > 0);
            Assert.True(DateTimeOffset.TryParse(image.GetProperty("lastUsed").GetString(), CultureInfo.InvariantCulture, out var lastUsed));
            Assert.True(DateTimeOffset.UtcNow - lastUsed < TimeSpan.FromMinutes(10) && lastUsed - DateTimeOffset.UtcNow < TimeSpan.FromMinutes(1), $"last used {lastUsed}");
        }
        var layers = listing.GetProperty("layers").EnumerateArray().ToList();
        Assert.Equal(sample.DiffIds.Concat(corpus.DiffIds).Order(StringComparer.Ordinal), layers.Select(layer => layer.GetProperty("diffId").GetString()).Order(StringComparer.Ordinal));
        var objectFiles = await FilesAsync(Path.Combine(cache, "objects"));
        var recordFiles = await FilesAsync(Path.Combine(cache, "layers", "sha256"));
        foreach (var layer in layers)
        {
            string diffId = layer.GetProperty("diffId").GetString()!;
            Assert.True(layer.GetProperty("complete").GetBoolean(), diffId);
            Assert.Equal([sample.DiffIds.Contains(diffId) ? CliProcess.SampleImage : CorpusImage], Strings(layer.GetProperty("images")));
            Assert.Equal(Long(layer, "recordBytes") + Long(layer, "objectBytes"), Long(layer, "bytes"));
            Assert.Equal(recordFiles.Single(file => diffId.EndsWith(Path.GetFileName(file.Path), StringComparison.Ordinal)).Allocated, Long(layer, "recordBytes"));
            Assert.InRange(Int(layer, "objects"), 0, objectFiles.Count);
        }
        // Every object belongs to some layer, and the busybox layer's binary is one of them.
        Assert.True(layers.Sum(layer => Int(layer, "objects")) >= objectFiles.Count);
        Assert.Contains(layers, layer => sample.DiffIds.Contains(layer.GetProperty("diffId").GetString()!) && Int(layer, "objects") > 0);

        var text = await RunAsync("cache", "ls", "--cache", cache);
        Assert.Equal(0, text.ExitCode);
        Assert.StartsWith($"cache {cache}: 2 images, {layers.Count} layers\n", text.StandardOutput, StringComparison.Ordinal);
        Assert.Contains(sample.Manifest[..19], text.StandardOutput, StringComparison.Ordinal);
        Assert.Contains(CorpusImage, text.StandardOutput, StringComparison.Ordinal);
        foreach (string diffId in sample.DiffIds.Concat(corpus.DiffIds))
        {
            Assert.Contains(diffId[..19], text.StandardOutput, StringComparison.Ordinal);
        }
        // The heading, the images' header and rows, the layers' header and rows.
        Assert.Equal(1 + (1 + 2) + (1 + layers.Count), text.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
    }

    [Fact]
    public async Task LsAndDuReportAMissingCacheAsEmptyWithoutCreatingIt()
    {
        string cache = NewCacheDirectory();
        var text = await RunAsync("cache", "ls", "--cache", cache);
        Assert.Equal(0, text.ExitCode);
        Assert.Equal($"cache {cache} (the directory does not exist): empty\n", text.StandardOutput);
        var listing = await CacheJsonAsync(cache, "ls");
        Assert.False(listing.GetProperty("exists").GetBoolean());
        Assert.Equal(0, listing.GetProperty("images").GetArrayLength());
        Assert.Equal(0, listing.GetProperty("layers").GetArrayLength());
        var usage = await CacheJsonAsync(cache, "du");
        Assert.Equal(0, Long(usage, "totalBytes"));
        Assert.Equal(0, Int(usage.GetProperty("records"), "count"));
        Assert.True((await CacheJsonAsync(cache, "verify")).GetProperty("clean").GetBoolean());
        Assert.Equal(0, Int(await CacheJsonAsync(cache, "gc"), "objectsRemoved"));
        Assert.Empty(Strings((await CacheJsonAsync(cache, "prune", 0, "--max-size", "0")).GetProperty("layersRemoved")));
        Assert.False(Path.Exists(cache));
    }

    [Fact]
    public async Task DuMatchesTheFilesOnDisk()
    {
        var (cache, _) = await CacheWithTheSampleAsync();
        await ExportAsync(CorpusImage, cache);
        // A leftover of a process that cannot exist (beyond any pid_max): temporary, until gc removes it.
        await File.WriteAllTextAsync(Path.Combine(cache, "tmp", "2147483647.leftover"), new string('x', 5000), Token);

        var usage = await CacheJsonAsync(cache, "du");
        var records = await FilesAsync(Path.Combine(cache, "layers", "sha256"));
        var objects = await FilesAsync(Path.Combine(cache, "objects"));
        var imageRecords = await FilesAsync(Path.Combine(cache, "images", "sha256"));
        var temporary = await FilesAsync(Path.Combine(cache, "tmp"));
        Assert.Equal(7, records.Count);
        Assert.Equal(records.Count, Int(usage.GetProperty("records"), "count"));
        Assert.Equal(records.Sum(file => file.Allocated), Long(usage.GetProperty("records"), "bytes"));
        Assert.Equal(objects.Count, Int(usage.GetProperty("objects"), "count"));
        Assert.Equal(objects.Sum(file => file.Allocated), Long(usage.GetProperty("objects"), "bytes"));
        Assert.Equal(objects.Sum(file => file.Size), Long(usage.GetProperty("objects"), "apparentBytes"));
        Assert.Equal(2, imageRecords.Count);
        Assert.Equal(imageRecords.Count, Int(usage.GetProperty("images"), "count"));
        Assert.Equal(imageRecords.Sum(file => file.Allocated), Long(usage.GetProperty("images"), "bytes"));
        Assert.Equal(1, Int(usage.GetProperty("temporary"), "count"));
        Assert.Equal(temporary.Sum(file => file.Allocated), Long(usage.GetProperty("temporary"), "bytes"));
        Assert.Equal(0, Int(usage.GetProperty("reclaimable"), "objects"));
        Assert.Equal(0, Long(usage.GetProperty("reclaimable"), "bytes"));
        Assert.Equal(new[] { records, objects, imageRecords, temporary }.Sum(files => files.Sum(file => file.Allocated)), Long(usage, "totalBytes"));

        var text = await RunAsync("cache", "du", "--cache", cache);
        Assert.Equal(0, text.ExitCode);
        Assert.Matches(@"\nlayer records +7 ", text.StandardOutput);
        Assert.Contains("reclaimable by gc: 0 unreferenced objects, 0 B\n", text.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PruneToZeroRemovesEveryLayerAndTheNextExportConvertsAgain()
    {
        var (cache, sample) = await CacheWithTheSampleAsync();
        var warm = await ExportAsync(CliProcess.SampleImage, cache);
        Assert.Equal(sample.DiffIds.Count, Int(warm, "layersFromCache"));
        Assert.Equal(0, Int(warm, "layersConverted"));
        var before = await CacheJsonAsync(cache, "du");

        var report = await CacheJsonAsync(cache, "prune", 0, "--max-size", "0");
        Assert.Equal(sample.DiffIds.Order(StringComparer.Ordinal), Strings(report.GetProperty("layersRemoved")).Order(StringComparer.Ordinal));
        Assert.Empty(Strings(report.GetProperty("layersInUse")));
        var sweep = report.GetProperty("sweep");
        Assert.True(Int(sweep, "objectsRemoved") > 0);
        Assert.Equal(1, Int(sweep, "imagesRemoved"));
        Assert.Equal(Long(report, "recordBytesFreed") + Long(sweep, "bytesFreed"), Long(report, "bytesFreed"));
        // Everything is gone: the records and objects prune counts as freed, and the image record its sweep removed.
        Assert.Equal(0, Long(await CacheJsonAsync(cache, "du"), "totalBytes"));
        Assert.Equal(Long(before, "totalBytes"), Long(report, "bytesFreed") + Long(before.GetProperty("images"), "bytes"));
        Assert.Empty(await FilesAsync(Path.Combine(cache, "objects")));
        var listing = await CacheJsonAsync(cache, "ls");
        Assert.Equal(0, listing.GetProperty("layers").GetArrayLength());
        Assert.Equal(0, listing.GetProperty("images").GetArrayLength());

        var cold = await ExportAsync(CliProcess.SampleImage, cache);
        Assert.Equal(sample.DiffIds.Count, Int(cold, "layersConverted"));
        Assert.Equal(0, Int(cold, "layersFromCache"));

        var text = await RunAsync("cache", "prune", "--max-size", "0", "--cache", cache);
        Assert.Equal(0, text.ExitCode);
        foreach (string diffId in sample.DiffIds)
        {
            Assert.Contains("removed layer " + diffId + "\n", text.StandardOutput, StringComparison.Ordinal);
        }
        Assert.Contains($"removed {sample.DiffIds.Count} layers, kept 0 in use\n", text.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("freed ", text.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PruneOlderThanRemovesOnlyTheLayersUnusedForThatLong()
    {
        var (cache, sample) = await CacheWithTheSampleAsync();
        foreach (string age in new[] { "1h", "30d", "2w", "90m" })
        {
            Assert.Empty(Strings((await CacheJsonAsync(cache, "prune", 0, "--older-than", age)).GetProperty("layersRemoved")));
        }
        // A record's modification time is its layer's last use: make one layer look unused for two days.
        string old = sample.DiffIds[^1];
        File.SetLastWriteTimeUtc(Path.Combine(cache, "layers", "sha256", old["sha256:".Length..]), DateTime.UtcNow - TimeSpan.FromDays(2));

        Assert.Empty(Strings((await CacheJsonAsync(cache, "prune", 0, "--older-than", "3d")).GetProperty("layersRemoved")));
        var report = await CacheJsonAsync(cache, "prune", 0, "--older-than", "1d");
        Assert.Equal([old], Strings(report.GetProperty("layersRemoved")));
        var listing = await CacheJsonAsync(cache, "ls");
        Assert.Equal(sample.DiffIds.Where(diffId => diffId != old).Order(StringComparer.Ordinal),
            listing.GetProperty("layers").EnumerateArray().Select(layer => layer.GetProperty("diffId").GetString()!).Order(StringComparer.Ordinal));
        var image = Assert.Single(listing.GetProperty("images").EnumerateArray());
        Assert.Equal(sample.DiffIds.Count - 1, Int(image, "layersCached"));
        Assert.Equal(sample.DiffIds.Count, Int(image, "layersTotal"));

        var next = await ExportAsync(CliProcess.SampleImage, cache);
        Assert.Equal(1, Int(next, "layersConverted"));
        Assert.Equal(sample.DiffIds.Count - 1, Int(next, "layersFromCache"));
    }

    [Fact]
    public async Task PruneNeedsABoundAndValidValues()
    {
        string cache = NewCacheDirectory();
        CliProcess.AssertOneLineError(await RunAsync("cache", "prune", "--cache", cache), 2, "cache prune needs a bound: --max-size SIZE, --older-than DURATION, or both");
        foreach (string duration in new[] { "3x", "12", "d", "1.5h", "1d12h", "99999999999999w" })
        {
            var result = await RunAsync("cache", "prune", "--older-than", duration, "--cache", cache);
            CliProcess.AssertOneLineError(result, 2, $"invalid duration \"{duration}\" for --older-than");
            Assert.Contains("Run 'decant cache prune --help' for usage.", result.StandardError, StringComparison.Ordinal);
        }
        CliProcess.AssertOneLineError(await RunAsync("cache", "prune", "--max-size", "12Q", "--cache", cache), 2, "invalid size \"12Q\" for --max-size");
        CliProcess.AssertOneLineError(await RunAsync("cache", "prune", "--max-size", "1G", "--cache", ""), 2, "--cache needs a directory");
        CliProcess.AssertOneLineError(await RunAsync("cache"), 2, "Required command");
        foreach (string duration in new[] { "45s", "0s", "2w" })
        {
            Assert.Equal(0, (await RunAsync("cache", "prune", "--older-than", duration, "--cache", cache)).ExitCode);
        }
        Assert.False(Path.Exists(cache));
    }

    [Fact]
    public async Task GcRemovesWhatNothingRefersTo()
    {
        var (cache, _) = await CacheWithTheSampleAsync();
        var objects = await FilesAsync(Path.Combine(cache, "objects"));
        Assert.NotEmpty(objects);
        string planted = Path.Combine(cache, "objects", "ab", new string('c', 62));
        Directory.CreateDirectory(Path.GetDirectoryName(planted)!);
        await File.WriteAllBytesAsync(planted, [.. Enumerable.Range(0, 10000).Select(i => (byte)(i * 7))], Token);
        string leftover = Path.Combine(cache, "tmp", "2147483647.leftover");
        await File.WriteAllTextAsync(leftover, "half-written", Token);
        long plantedBytes = (await FilesAsync(planted)).Single().Allocated;
        var usage = await CacheJsonAsync(cache, "du");
        Assert.Equal(1, Int(usage.GetProperty("reclaimable"), "objects"));
        Assert.Equal(plantedBytes, Long(usage.GetProperty("reclaimable"), "bytes"));

        var report = await CacheJsonAsync(cache, "gc");
        Assert.True(report.GetProperty("objectsSwept").GetBoolean());
        Assert.Equal(1, Int(report, "objectsRemoved"));
        Assert.Equal(plantedBytes, Long(report, "bytesFreed"));
        Assert.Equal(1, Int(report, "leftoversRemoved"));
        Assert.Equal(0, Int(report, "imagesRemoved"));
        Assert.False(File.Exists(planted));
        Assert.False(File.Exists(leftover));
        Assert.Equal(objects.Select(file => file.Path).Order(StringComparer.Ordinal), (await FilesAsync(Path.Combine(cache, "objects"))).Select(file => file.Path).Order(StringComparer.Ordinal));
        Assert.All((await CacheJsonAsync(cache, "ls")).GetProperty("layers").EnumerateArray(), layer => Assert.True(layer.GetProperty("complete").GetBoolean()));
        Assert.Equal(0, Int(await CacheJsonAsync(cache, "gc"), "objectsRemoved"));

        await File.WriteAllBytesAsync(planted, [1, 2, 3], Token);
        var text = await RunAsync("cache", "gc", "--cache", cache);
        Assert.Equal(0, text.ExitCode);
        Assert.Contains("gc: removed 1 unreferenced object (", text.StandardOutput, StringComparison.Ordinal);
        Assert.False(File.Exists(planted));
        Assert.Equal(3, Int(await ExportAsync(CliProcess.SampleImage, cache), "layersFromCache"));
    }

    [Fact]
    public async Task VerifyFindsAFlippedByteAndTheNextExportConvertsWhatItBroke()
    {
        var (cache, sample) = await CacheWithTheSampleAsync();
        var objects = await FilesAsync(Path.Combine(cache, "objects"));
        var clean = await RunAsync("cache", "verify", "--cache", cache);
        Assert.Equal(0, clean.ExitCode);
        Assert.Equal($"cache {cache}\nchecked {sample.DiffIds.Count} layers and {objects.Count} object{(objects.Count == 1 ? "" : "s")}: clean\n", clean.StandardOutput);
        var cleanJson = await CacheJsonAsync(cache, "verify");
        Assert.True(cleanJson.GetProperty("clean").GetBoolean());
        Assert.Equal(sample.DiffIds.Count, Int(cleanJson, "layersChecked"));
        Assert.Equal(objects.Count, Int(cleanJson, "objectsChecked"));

        // The largest object: busybox itself. Flip one byte in the middle of it.
        string damaged = objects.MaxBy(file => file.Size).Path;
        byte[] bytes = await File.ReadAllBytesAsync(damaged, Token);
        bytes[bytes.Length / 2] ^= 0x01;
        await File.WriteAllBytesAsync(damaged, bytes, Token);

        var report = await CacheJsonAsync(cache, "verify", 6);
        Assert.False(report.GetProperty("clean").GetBoolean());
        Assert.Equal([DigestOf(damaged)], Strings(report.GetProperty("damagedObjects")));
        var broken = report.GetProperty("brokenLayers").EnumerateArray().ToList();
        Assert.NotEmpty(broken);
        foreach (var layer in broken)
        {
            Assert.Contains(layer.GetProperty("diffId").GetString()!, sample.DiffIds);
            Assert.Contains(DigestOf(damaged), layer.GetProperty("problem").GetString()!, StringComparison.Ordinal);
            Assert.True(layer.GetProperty("removed").GetBoolean());
        }
        Assert.False(File.Exists(damaged));
        var again = await CacheJsonAsync(cache, "verify");
        Assert.True(again.GetProperty("clean").GetBoolean());
        Assert.Equal(sample.DiffIds.Count - broken.Count, Int(again, "layersChecked"));

        var next = await ExportAsync(CliProcess.SampleImage, cache);
        Assert.Equal(broken.Count, Int(next, "layersConverted"));
        Assert.Equal(sample.DiffIds.Count - broken.Count, Int(next, "layersFromCache"));
        Assert.True((await CacheJsonAsync(cache, "verify")).GetProperty("clean").GetBoolean());

        // The text form names the damage, one line each, and exits non-zero too.
        string restored = (await FilesAsync(Path.Combine(cache, "objects"))).MaxBy(file => file.Size).Path;
        bytes = await File.ReadAllBytesAsync(restored, Token);
        bytes[0] ^= 0x80;
        await File.WriteAllBytesAsync(restored, bytes, Token);
        var text = await RunAsync("cache", "verify", "--cache", cache);
        Assert.Equal(6, text.ExitCode);
        Assert.Contains($"damaged object {DigestOf(restored)} (removed)\n", text.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("broken layer sha256:", text.StandardOutput, StringComparison.Ordinal);
        Assert.Contains(": 1 damaged object, ", text.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task HelpListsTheVerbsAndVerifysExitCode()
    {
        var group = await RunAsync("cache", "--help");
        Assert.Equal(0, group.ExitCode);
        foreach (string verb in new[] { "ls", "du", "prune", "gc", "verify" })
        {
            Assert.Contains("  " + verb + " ", group.StandardOutput, StringComparison.Ordinal);
            var help = await RunAsync("cache", verb, "--help");
            Assert.Equal(0, help.ExitCode);
            Assert.Contains("--cache <DIR>", help.StandardOutput, StringComparison.Ordinal);
            Assert.Contains("--json", help.StandardOutput, StringComparison.Ordinal);
        }
        var verify = await RunAsync("cache", "verify", "--help");
        Assert.Contains("Exit code: 0 when the cache is clean, 6 when damage was found.", System.Text.RegularExpressions.Regex.Replace(verify.StandardOutput, @"\s+", " "), StringComparison.Ordinal);
    }
}
