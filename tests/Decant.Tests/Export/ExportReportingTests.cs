using Decant.Export;
using Decant.Model;
using Decant.Tests.Support;

namespace Decant.Tests.Export;

/// <summary>What an export reports: layer states that say what each layer is doing, and cleanup that failed.</summary>
public class ExportReportingTests
{
    /// <summary>Records every snapshot synchronously (Progress&lt;T&gt; would post them to the thread pool, out of order).</summary>
    private sealed class Recorder(Action<ExportProgress>? onReport = null) : IProgress<ExportProgress>
    {
        public List<ExportProgress> Snapshots { get; } = [];

        public void Report(ExportProgress value)
        {
            lock (Snapshots)
            {
                Snapshots.Add(value);
            }
            onReport?.Invoke(value);
        }
    }

    [Fact]
    public async Task ALayerReadBeforeTheOneBelowItWaitsAndIsNotReportedAsApplying()
    {
        using var scratch = new ScratchDirectory();
        // A bottom layer that takes a while to read (256 MiB of zeros) and a tiny one above it, read at the same time.
        var tar = new MemoryStream();
        using (var writer = new System.Formats.Tar.TarWriter(tar, System.Formats.Tar.TarEntryFormat.Pax, leaveOpen: true))
        {
            writer.WriteEntry(new System.Formats.Tar.PaxTarEntry(System.Formats.Tar.TarEntryType.RegularFile, "big") { DataStream = new MemoryStream(new byte[256 << 20]) });
        }
        byte[] big = tar.ToArray();
        string reference = SyntheticImage.WriteLayout(scratch.Combine("image"), [big, new LayerTar().File("small", "x").ToArray()]);
        var recorder = new Recorder();
        await ImageExporter.ExportAsync(reference, new ExportOptions { Output = scratch.Combine("out.tar"), Jobs = 2 }, recorder);

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
        var recorder = new Recorder(snapshot =>
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
