using System.Formats.Tar;
using System.Text.Json;
using Decant.Tests.Support;

namespace Decant.Tests.Cli;

/// <summary>
/// The <c>decant</c> command as users meet it: exit codes, one-line errors without stack traces,
/// nothing left behind on failure, and each output form.
/// </summary>
public class CliTests
{
    private static Task<ToolResult> RunAsync(params string[] arguments)
    {
        var command = CliProcess.Command(arguments);
        return Tools.RunAsync(command[0], command[1..], CancellationToken.None);
    }

    private static string SampleImage => CliProcess.SampleImage;

    private static void AssertOneLineError(ToolResult result, int exitCode, string text) => CliProcess.AssertOneLineError(result, exitCode, text);

    [Fact]
    public async Task ExportsTheSampleToADirectory()
    {
        using var scratch = new ScratchDirectory();
        var result = await RunAsync("export", SampleImage, "-o", scratch.Combine("rootfs"), "--progress", "plain");
        Assert.Equal(0, result.ExitCode);
        Assert.True(File.Exists(scratch.Combine("rootfs", "bin", "busybox")));
        Assert.Contains("done in", result.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ExportsAFlattenedTarToStandardOutputThatMatchesTheFileOutput()
    {
        using var scratch = new ScratchDirectory();
        Assert.Equal(0, (await RunAsync("export", SampleImage, "-o", scratch.Combine("a.tar"), "--progress", "none")).ExitCode);
        var toStdout = await RunAsync("export", SampleImage, "-o", "-", "--progress", "none");
        Assert.Equal(0, toStdout.ExitCode);
        // Text capture of stdout is lossy for binary; compare the entry names, which are ASCII here.
        using var file = File.OpenRead(scratch.Combine("a.tar"));
        using var reader = new TarReader(file);
        var names = new List<string>();
        while (reader.GetNextEntry() is { } entry)
        {
            names.Add(entry.Name);
        }
        Assert.Contains("bin/busybox", names);
        foreach (var name in names)
        {
            Assert.Contains(name, toStdout.StandardOutput, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task WritesARuntimeBundleAndTheConfig()
    {
        using var scratch = new ScratchDirectory();
        var result = await RunAsync("export", SampleImage, "-o", scratch.Combine("bundle"), "--bundle", "--config-out", scratch.Combine("config.json"), "--progress", "none");
        Assert.Equal(0, result.ExitCode);
        Assert.True(File.Exists(scratch.Combine("bundle", "rootfs", "bin", "busybox")));
        using var runtime = JsonDocument.Parse(File.ReadAllBytes(scratch.Combine("bundle", "config.json")));
        using var image = JsonDocument.Parse(File.ReadAllBytes(scratch.Combine("config.json")));
        var imageConfig = image.RootElement.GetProperty("config");
        var process = runtime.RootElement.GetProperty("process");
        var expectedArgs = (imageConfig.TryGetProperty("Entrypoint", out var ep) && ep.ValueKind == JsonValueKind.Array ? ep.EnumerateArray() : default(JsonElement.ArrayEnumerator))
            .Concat(imageConfig.TryGetProperty("Cmd", out var cmd) && cmd.ValueKind == JsonValueKind.Array ? cmd.EnumerateArray() : default(JsonElement.ArrayEnumerator))
            .Select(e => e.GetString()).ToList();
        Assert.Equal(expectedArgs, process.GetProperty("args").EnumerateArray().Select(e => e.GetString()).ToList());
        Assert.Equal(imageConfig.GetProperty("Env").EnumerateArray().Select(e => e.GetString()), process.GetProperty("env").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal("rootfs", runtime.RootElement.GetProperty("root").GetProperty("path").GetString());
    }

    [Fact]
    public async Task JsonProgressIsOneEventPerLineEndingWithASummary()
    {
        using var scratch = new ScratchDirectory();
        var result = await RunAsync("export", SampleImage, "-o", scratch.Combine("rootfs"), "--progress", "json");
        Assert.Equal(0, result.ExitCode);
        var events = result.StandardError.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => JsonDocument.Parse(line)).ToList();
        try
        {
            Assert.Equal("resolving", events[0].RootElement.GetProperty("stage").GetString());
            Assert.Equal("summary", events[^1].RootElement.GetProperty("event").GetString());
            var progress = events.Where(e => e.RootElement.GetProperty("event").GetString() == "progress").Select(e => e.RootElement).ToList();
            var last = progress[^1];
            Assert.Equal("done", last.GetProperty("stage").GetString());
            Assert.Equal(3, last.GetProperty("layersDone").GetInt32());
            Assert.Equal(last.GetProperty("totalBytes").GetInt64(), last.GetProperty("bytesRead").GetInt64());
            var statesSeen = progress.SelectMany(p => p.GetProperty("layers").EnumerateArray().Select(l => l.GetProperty("state").GetString())).ToHashSet();
            Assert.Superset(new HashSet<string?> { "waiting", "downloading", "verifying", "read", "applying", "done" }, statesSeen);
        }
        finally
        {
            events.ForEach(e => e.Dispose());
        }
    }

    [Fact]
    public async Task InspectPrintsTheResolvedImage()
    {
        var result = await RunAsync("inspect", SampleImage);
        Assert.Equal(0, result.ExitCode);
        using var json = JsonDocument.Parse(result.StandardOutput);
        Assert.Equal("linux/amd64", json.RootElement.GetProperty("platform").GetString());
        Assert.Equal(3, json.RootElement.GetProperty("layers").GetArrayLength());
        Assert.StartsWith("sha256:", json.RootElement.GetProperty("layers")[0].GetProperty("diffId").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task MissingTagIsExitThreeAndListsTags()
    {
        using var scratch = new ScratchDirectory();
        var result = await RunAsync("export", SampleImage.Replace(":latest", ":missing", StringComparison.Ordinal), "-o", scratch.Combine("out"));
        AssertOneLineError(result, 3, "available tags: latest");
        Assert.False(Path.Exists(scratch.Combine("out")));
    }

    [Fact]
    public async Task UnknownPlatformIsExitFiveAndListsPlatforms()
    {
        using var scratch = new ScratchDirectory();
        var result = await RunAsync("export", SampleImage, "-o", scratch.Combine("out"), "--platform", "linux/riscv64");
        AssertOneLineError(result, 5, "available: linux/amd64");
    }

    [Fact]
    public async Task AReferenceThatIsNeitherATransportNorANameIsAUsageError()
    {
        var result = await RunAsync("export", "Not A Name::", "-o", "/nonexistent/out");
        AssertOneLineError(result, 2, "is neither TRANSPORT:NAME");
    }

    [Fact]
    public async Task NonEmptyOutputIsRefusedWithoutForce()
    {
        using var scratch = new ScratchDirectory();
        Directory.CreateDirectory(scratch.Combine("out"));
        File.WriteAllText(scratch.Combine("out", "precious"), "keep me");
        var result = await RunAsync("export", SampleImage, "-o", scratch.Combine("out"));
        AssertOneLineError(result, 10, "use --force");
        Assert.Equal("keep me", File.ReadAllText(scratch.Combine("out", "precious")));
    }

    [Fact]
    public async Task CorruptLayerIsExitSixNamesTheLayerAndLeavesNothing()
    {
        using var scratch = new ScratchDirectory();
        string layout = scratch.Combine("image");
        string reference = CliProcess.CorruptImage(layout);
        string blob = Directory.GetFiles(Path.Combine(layout, "blobs", "sha256")).Single(f => new FileInfo(f).Length > 40 && File.ReadAllBytes(f)[0] == 0x1F);
        var result = await RunAsync("export", reference, "-o", scratch.Combine("out"));
        AssertOneLineError(result, 6, "sha256:" + Path.GetFileName(blob));
        Assert.False(Path.Exists(scratch.Combine("out")));
    }

    [Fact]
    public async Task UnsafeLayerIsExitEightNamingLayerAndEntry()
    {
        using var scratch = new ScratchDirectory();
        string reference = SyntheticImage.WriteLayout(scratch.Combine("image"), [new LayerTar().File("../../escape", "x").ToArray()]);
        var result = await RunAsync("export", reference, "-o", scratch.Combine("out.tar"));
        AssertOneLineError(result, 8, "entry \"../../escape\"");
        Assert.Contains("layer sha256:", result.StandardError, StringComparison.Ordinal);
        Assert.Equal(["image"], Directory.GetFileSystemEntries(scratch.Path).Select(Path.GetFileName));
    }
}
