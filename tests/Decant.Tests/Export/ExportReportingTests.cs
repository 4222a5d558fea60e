using Decant.Export;
using Decant.Model;
using Decant.References;
using Decant.Sources;
using Decant.Tests.Support;

namespace Decant.Tests.Export;

/// <summary>What an export reports: layer states that say what each layer is doing, and cleanup that failed.</summary>
public class ExportReportingTests
{
    [Fact]
    public async Task ALayerReadBeforeTheOneBelowItWaitsAndIsNotReportedAsApplying()
    {
        using var scratch = new ScratchDirectory();
        // The bottom layer's blob opens only once the layer above it has been read.
        byte[] bottom = new LayerTar().File("big", new string('b', 100_000)).ToArray();
        string reference = SyntheticImage.WriteLayout(scratch.Combine("image"), [bottom, new LayerTar().File("small", "x").ToArray()]);
        var aboveRead = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var recorder = new ProgressRecorder(snapshot =>
        {
            if (snapshot.Layers.Count == 2 && snapshot.Layers[1].State == LayerState.Read)
            {
                aboveRead.TrySetResult();
            }
        });
        await using var layout = await ImageSources.OpenAsync(ImageReference.Parse(reference), CancellationToken.None);
        string bottomDigest = "sha256:" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(SyntheticImage.Gzip(bottom)));
        var source = new GatedSource(layout, bottomDigest, aboveRead.Task);
        await ImageExporter.ExportAsync(source, new ExportOptions { Output = scratch.Combine("out.tar"), Jobs = 2 }, recorder).WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Contains(recorder.Snapshots, s => s.Layers.Count == 2 && s.Layers[1].State == LayerState.Read && s.Layers[0].State != LayerState.Done);
        foreach (var snapshot in recorder.Snapshots)
        {
            foreach (var layer in snapshot.Layers.Where(l => l.State == LayerState.Applying))
            {
                Assert.All(snapshot.Layers.Take(layer.Index), below => Assert.Equal(LayerState.Done, below.State));
            }
        }
    }

    [Fact]
    public async Task AFailedExportWhosePartialOutputCannotBeRemovedSaysWhatWasLeft()
    {
        using var scratch = new ScratchDirectory();
        byte[] second = new LayerTar().File("b", new string('b', 5000)).ToArray();
        string reference = SyntheticImage.WriteLayout(scratch.Combine("image"), [new LayerTar().File("a", "content").ToArray(), second]);
        string corrupt = SyntheticImage.BlobPath(scratch.Combine("image"), "sha256:" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(SyntheticImage.Gzip(second))));
        byte[] bytes = File.ReadAllBytes(corrupt);
        bytes[^10] ^= 0xFF;
        File.WriteAllBytes(corrupt, bytes);
        string output = scratch.Combine("out");
        var pinned = new List<string>();
        // Once the first layer is in, make what it staged impossible to remove; the second layer then fails.
        var recorder = new ProgressRecorder(snapshot =>
        {
            if (pinned.Count == 0 && snapshot.Layers.Count == 2 && snapshot.Layers[0].State == LayerState.Done)
            {
                string file = Directory.EnumerateFiles(output, "*", SearchOption.AllDirectories).First();
                Tools.RunCheckedAsync("chattr", ["+i", file], CancellationToken.None).GetAwaiter().GetResult();
                pinned.Add(file);
            }
        });
        try
        {
            var error = await Assert.ThrowsAsync<DecantException>(() => ImageExporter.ExportAsync(reference, new ExportOptions { Output = output, Jobs = 1 }, recorder));
            Assert.Equal(DecantErrorKind.DigestMismatch, error.Kind);
            Assert.Single(pinned);
            var leftOver = ImageExporter.CleanupFailureOf(error);
            Assert.NotNull(leftOver);
            Assert.Contains("could not be removed", leftOver.Message, StringComparison.Ordinal);
            Assert.Contains(output, leftOver.Message, StringComparison.Ordinal);
        }
        finally
        {
            foreach (string file in pinned)
            {
                await Tools.RunCheckedAsync("chattr", ["-i", file], CancellationToken.None);
            }
        }
    }

    [Fact]
    public async Task ACleanExportHasNoCleanupFailure()
    {
        using var scratch = new ScratchDirectory();
        string reference = SyntheticImage.WriteLayout(scratch.Combine("image"), [new LayerTar().File("a", "content").ToArray()]);
        var result = await ImageExporter.ExportAsync(reference, new ExportOptions { Output = scratch.Combine("out") });
        Assert.Null(result.CleanupFailure);
    }
}
