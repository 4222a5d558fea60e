using System.Security.Cryptography;
using Decant.Export;
using Decant.References;
using Decant.Sources;

namespace Decant.Tests.Support;

/// <summary>
/// Exports synthetic layers with the bottom layer's blob held back until the layer above it has
/// been read, so that layer is surely read ahead of its turn (the one injected fault, a delay), and
/// asserts that it was.
/// </summary>
internal static class ReadAheadExport
{
    /// <summary>Writes <paramref name="layers"/> as an OCI layout in <paramref name="layoutDirectory"/> and exports it with <paramref name="options"/> (two jobs or more), the bottom layer held.</summary>
    public static async Task ExportAsync(IReadOnlyList<byte[]> layers, string layoutDirectory, ExportOptions options)
    {
        string reference = SyntheticImage.WriteLayout(layoutDirectory, layers);
        var aboveRead = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var recorder = new ProgressRecorder(snapshot =>
        {
            if (snapshot.Layers.Count == layers.Count && snapshot.Layers[1].State == LayerState.Read)
            {
                aboveRead.TrySetResult();
            }
        });
        await using (var layout = await ImageSources.OpenAsync(ImageReference.Parse(reference), CancellationToken.None))
        {
            string bottom = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(SyntheticImage.Gzip(layers[0])));
            await ImageExporter.ExportAsync(new GatedSource(layout, bottom, aboveRead.Task), options, recorder).WaitAsync(TimeSpan.FromSeconds(120));
        }
        Assert.Contains(recorder.Snapshots, s => s.Layers.Count == layers.Count && s.Layers[1].State == LayerState.Read && s.Layers[0].State != LayerState.Done);
    }

    /// <summary>
    /// Exports <paramref name="layers"/> (two) with the layer above read ahead and its turn coming
    /// midway through it: its blob stops after <paramref name="pauseAfter"/> bytes until the bottom
    /// layer, opened only then, has been read. Asserts that the bottom layer was read while the one
    /// above was still downloading.
    /// </summary>
    public static async Task ExportWithTurnMidwayAsync(IReadOnlyList<byte[]> layers, string layoutDirectory, ExportOptions options, long pauseAfter)
    {
        string reference = SyntheticImage.WriteLayout(layoutDirectory, layers);
        var abovePaused = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var bottomRead = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var recorder = new ProgressRecorder(snapshot =>
        {
            if (snapshot.Layers.Count == layers.Count && snapshot.Layers[0].State is LayerState.Read or LayerState.Applying or LayerState.Done)
            {
                bottomRead.TrySetResult();
            }
        });
        await using (var layout = await ImageSources.OpenAsync(ImageReference.Parse(reference), CancellationToken.None))
        {
            string bottom = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(SyntheticImage.Gzip(layers[0])));
            string above = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(SyntheticImage.Gzip(layers[1])));
            var source = new GatedSource(layout, bottom, abovePaused.Task, pausing: (above, pauseAfter, abovePaused, bottomRead.Task));
            await ImageExporter.ExportAsync(source, options, recorder).WaitAsync(TimeSpan.FromSeconds(120));
        }
        Assert.Contains(recorder.Snapshots, s => s.Layers.Count == layers.Count && s.Layers[0].State == LayerState.Done && s.Layers[1].State == LayerState.Downloading);
    }
}
