using System.Text.Json;
using Decant.Tests.Cli;
using Decant.Tests.Differential;
using Decant.Tests.Support;
using Decant.Tests.Writers.Ext4;

namespace Decant.Tests.Sources.ContainersStorage;

/// <summary>
/// A base for the containers-storage tests (<see cref="UsesContainersStores"/>): the shared stores,
/// a time limit, and the built <c>decant</c> run as users run it, each run with a fresh layer cache
/// unless it names one.
/// </summary>
public abstract class ContainersStorageTest(ContainersStores stores, int timeLimit = 3) : RealImagesTest(stores.Images, timeLimit)
{
    /// <summary>The diff_id of a layer with no entries (a tar of 1024 zero bytes).</summary>
    protected const string EmptyLayerDiffId = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef";

    protected ContainersStores Stores { get; } = stores;

    /// <summary>Runs <c>decant</c> with <paramref name="arguments"/> (through <see cref="CliProcess.Command"/>) and captures what it printed.</summary>
    protected Task<ToolResult> DecantAsync(params string[] arguments)
    {
        var command = CliProcess.Command(arguments);
        return Tools.RunAsync(command[0], command[1..], Token);
    }

    /// <summary>A path for an output in a new scratch directory (the output does not exist yet).</summary>
    protected string NewOutput(string purpose, string format) =>
        Path.Combine(Stores.NewScratchDirectory(purpose), format switch { "dir" => "rootfs", "tar" => "rootfs.tar", "ext4" => "rootfs.ext4", _ => "rootfs." + format });

    /// <summary>Exports <paramref name="reference"/> with <c>decant export REF -o OUT --format FORMAT --progress json</c>; fails unless it succeeds. Returns the output and the summary event.</summary>
    protected async Task<(string Output, JsonElement Summary)> ExportAsync(string reference, string format, params string[] extra)
    {
        string output = NewOutput("cs-" + format, format);
        var result = await DecantAsync(["export", reference, "-o", output, "--format", format, "--progress", "json", .. extra]);
        Assert.True(result.ExitCode == 0, $"decant export {reference} exited with {result.ExitCode}:\n{result.StandardError}");
        return (output, Summary(result));
    }

    /// <summary>The last line of a <c>--progress json</c> run's stderr, which must be the summary event.</summary>
    protected static JsonElement Summary(ToolResult result)
    {
        string last = result.StandardError.Split('\n', StringSplitOptions.RemoveEmptyEntries)[^1];
        using var json = JsonDocument.Parse(last);
        Assert.Equal("summary", json.RootElement.GetProperty("event").GetString());
        return json.RootElement.Clone();
    }

    /// <summary>What <c>decant inspect REF</c> prints; fails unless it succeeds.</summary>
    protected async Task<JsonElement> InspectAsync(string reference)
    {
        var result = await DecantAsync("inspect", reference);
        Assert.True(result.ExitCode == 0, $"decant inspect {reference} exited with {result.ExitCode}:\n{result.StandardError}");
        using var json = JsonDocument.Parse(result.StandardOutput);
        return json.RootElement.Clone();
    }

    /// <summary>The diff_ids of the layers <c>decant inspect</c> listed, bottom first.</summary>
    protected static List<string> DiffIds(JsonElement inspected) =>
        [.. inspected.GetProperty("layers").EnumerateArray().Select(layer => layer.GetProperty("diffId").GetString()!)];

    /// <summary>A snapshot of a directory export.</summary>
    protected Task<TreeSnapshot> SnapshotAsync(string directory) => TreeSnapshot.CaptureAsync(directory, cancellationToken: Token);

    /// <summary>Asserts that the ext4 image holds <paramref name="expected"/> (mounted read-only; lost+found aside).</summary>
    protected static async Task AssertExt4HoldsAsync(TreeSnapshot expected, string image)
    {
        await Ext4Images.AssertCleanAsync(image);
        await using var mounted = await Ext4Images.MountAsync(image, image + ".mnt");
        var options = new SnapshotCompareOptions().Ignore("/lost+found", SnapshotField.All).Ignore("/lost+found/**", SnapshotField.All);
        TreeSnapshotAssert.Equal(expected, await TreeSnapshot.CaptureAsync(mounted.Path), options);
    }

    /// <summary>Asserts that a flattened tar holds exactly the entries of <paramref name="expected"/>.</summary>
    protected async Task AssertTarHoldsAsync(TreeSnapshot expected, string tar) =>
        FlattenedTarTests.AssertSameEntries(expected.Entries.Values, await FlattenedTarSnapshot.ReadAsync(tar, Token));

    /// <summary>Asserts a failed run: exit <paramref name="exitCode"/>, one error line holding <paramref name="text"/>, no stack trace, and <paramref name="output"/> absent with nothing beside it.</summary>
    protected static void AssertFailedLeavingNothing(ToolResult result, int exitCode, string text, string output)
    {
        CliProcess.AssertOneLineError(result, exitCode, text);
        Assert.False(Path.Exists(output), $"{output} exists after a failed export");
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.GetDirectoryName(output)!));
    }

    /// <summary>The layers of the image as skopeo copied it to an OCI layout, bottom first.</summary>
    protected Task<IReadOnlyList<RealImageLayer>> LayoutLayersAsync(ContainersStore store) =>
        RealImagesLayout.ReadLayersAsync(store.Image.OciLayout, RealImages.Tag, Token);
}
