using System.Collections.Concurrent;
using Decant.Export;
using Decant.Tests.Manifests;
using Decant.Tests.Support;
using Decant.Writers;

namespace Decant.Tests.Hostile;

/// <summary>
/// Exit 70 must be unreachable from input. Every hostile case of the project's own tables (the
/// layers of <see cref="HostileLayerTests"/>, the documents of <see cref="HostileJsonTests"/>) is
/// exported by the real <c>decant</c> command into every output (directory, tar, ext4); any exit 70,
/// .NET stack trace or unhandled-exception report, or a run past the time limit fails the sweep,
/// which lists every such case at once.
/// </summary>
public class ExitCodeSweepTests
{
    private static readonly string Decant = Path.Combine(AppContext.BaseDirectory, "decant.dll");

    /// <summary>A bound on a hang (the outside corpus used 50 s), not a performance measure.</summary>
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(50);

    private static readonly OutputFormat[] AllFormats = [.. Formats.All];

    [Fact]
    public async Task NoHostileCaseEndsInAnInternalErrorAStackTraceOrAHang()
    {
        using var scratch = new ScratchDirectory();
        var images = new List<(string Name, string Reference)>();
        int n = 0;
        foreach (var layerCase in HostileLayerTests.All())
        {
            string directory = scratch.Combine($"layer-{n++}");
            images.Add(($"layers: {layerCase.Name}", SyntheticImage.WriteLayout(directory, layerCase.Layers.Select(make => make()),
                layerCase.Gzip ? LayerCompressionForTest.Gzip : LayerCompressionForTest.None)));
        }
        foreach (var jsonCase in HostileJsonTests.AllCases())
        {
            using var layout = new SyntheticImage(scratch.Combine($"json-{n++}")); // in the scratch directory, which removes it
            images.Add(($"json: {jsonCase.Name}", HostileJsonTests.WriteImage(layout, jsonCase)));
        }

        var failures = new ConcurrentBag<string>();
        var runs = images.SelectMany(image => AllFormats.Select(format => (image.Name, image.Reference, Format: format))).Select((run, i) => (run.Name, run.Reference, run.Format, Index: i));
        await Parallel.ForEachAsync(runs, new ParallelOptions { MaxDegreeOfParallelism = 2 }, async (run, _) =>
        {
            if (await CheckAsync(run.Reference, run.Format, scratch.Combine($"out-{run.Index}")) is { } failure)
            {
                failures.Add($"{run.Name} ({run.Format}): {failure}");
            }
        });

        Assert.True(failures.IsEmpty, string.Join('\n', failures.Order(StringComparer.Ordinal)));
    }

    /// <summary>Runs one export; returns what was wrong with how it ended, or null.</summary>
    private static async Task<string?> CheckAsync(string reference, OutputFormat format, string outDirectory)
    {
        Directory.CreateDirectory(outDirectory);
        string output = Path.Combine(outDirectory, Formats.OutputName(format));
        using var timeout = new CancellationTokenSource(Limit);
        ToolResult result;
        try
        {
            result = await Tools.RunAsync("dotnet", [Decant, "export", reference, "-o", output, "--max-unpacked-bytes", "64M", "--progress", "none"], timeout.Token);
        }
        catch (OperationCanceledException)
        {
            return $"still running after {Limit.TotalSeconds:0} s (killed)";
        }
        string stderr = result.StandardError;
        if (result.ExitCode == 70)
        {
            return $"exit 70: {stderr.Trim()}";
        }
        if (stderr.Contains("Unhandled exception", StringComparison.Ordinal) || stderr.Contains("\n   at ", StringComparison.Ordinal))
        {
            return $"exit {result.ExitCode} with a stack trace: {stderr.Trim()}";
        }
        if (result.ExitCode is not (0 or >= 2 and <= 16))
        {
            return $"exit {result.ExitCode}, which the README does not list: {stderr.Trim()}";
        }
        return null;
    }
}
