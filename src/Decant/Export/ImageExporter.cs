using System.Diagnostics;
using Decant.Blobs;
using Decant.Errors;
using Decant.Layers;
using Decant.Manifests;
using Decant.References;
using Decant.Semantics;
using Decant.Sources;
using Decant.Writers;
using Decant.Writers.Directory;
using Decant.Writers.Tar;

namespace Decant.Export;

/// <summary>
/// The whole pipeline: reference → source → verified blobs → per-layer reading (concurrent) →
/// layer semantics (in order, in one place) → writer. On any failure everything this run created
/// is removed.
/// </summary>
public static class ImageExporter
{
    /// <summary>Exports the image <paramref name="reference"/> (e.g. <c>oci:./layout:tag</c>) as the options say.</summary>
    public static async Task<ExportResult> ExportAsync(string reference, ExportOptions options, IProgress<ExportProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        var clock = Stopwatch.StartNew();
        progress?.Report(new ExportProgress { Stage = ExportStage.Resolving });
        await using var source = await ImageSources.OpenAsync(ImageReference.ParseWithBareNames(reference), options.Source, cancellationToken).ConfigureAwait(false);
        var image = await ImageResolver.ResolveAsync(source, options.Platform, cancellationToken).ConfigureAwait(false);

        var bundle = options.Bundle ? OutputBundle.Create(options) : null;
        try
        {
            await using var writer = await CreateWriterAsync(options, bundle?.RootfsPath ?? options.Output, cancellationToken).ConfigureAwait(false);
            await using var tracker = new ProgressTracker(image.Layers, progress);
            var (tree, uncompressed) = await ReadAndApplyLayersAsync(source, image, writer.Content, options, tracker, cancellationToken).ConfigureAwait(false);
            tracker.SetStage(ExportStage.Writing);
            var summary = await writer.CommitAsync(tree, cancellationToken).ConfigureAwait(false);
            if (bundle is not null)
            {
                await bundle.WriteRuntimeConfigAsync(image, cancellationToken).ConfigureAwait(false);
            }
            if (options.ConfigOutput is not null)
            {
                await File.WriteAllBytesAsync(options.ConfigOutput, image.ConfigBytes, cancellationToken).ConfigureAwait(false);
            }
            bundle?.Complete();
            tracker.SetStage(ExportStage.Done);
            return new ExportResult(image, summary, uncompressed, clock.Elapsed);
        }
        finally
        {
            bundle?.Dispose();
        }
    }

    private static async Task<IRootfsWriter> CreateWriterAsync(ExportOptions options, string output, CancellationToken cancellationToken) =>
        options.ResolvedFormat switch
        {
            OutputFormat.Tar when options.Bundle => throw new DecantException(DecantErrorKind.Usage, "--bundle writes a directory; it cannot be combined with a tar output"),
            OutputFormat.Tar => TarRootfsWriter.Create(new TarWriterOptions { Output = output, Force = options.Force }),
            _ => await DirectoryWriter.CreateAsync(new DirectoryWriterOptions { Target = output, Force = options.Force, Ownership = options.ResolvedOwnership }, cancellationToken).ConfigureAwait(false),
        };

    /// <summary>
    /// Reads up to <see cref="ExportOptions.Jobs"/> layers at once (within the read-ahead window),
    /// and applies each, in order, as soon as it and every layer below it are read.
    /// </summary>
    private static async Task<(Tree.MergedTree Tree, long UncompressedBytes)> ReadAndApplyLayersAsync(
        IImageSource source, ResolvedImage image, Tree.IContentStore store, ExportOptions options,
        ProgressTracker tracker, CancellationToken cancellationToken)
    {
        using var failFast = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var window = new ReadAheadWindow(options.Jobs, options.MaxBytesInFlight, image.Layers.Select(l => l.Size));
        var budget = new UnpackBudget(options.MaxUnpackedBytes);
        var limits = new TarReaderLimits();
        int total = image.Layers.Count;
        var reads = new Task<LayerIndex>[total];
        for (int i = 0; i < total; i++)
        {
            var layer = image.Layers[i];
            string? diffId = i < image.DiffIds.Count ? image.DiffIds[i].ToString() : null;
            reads[i] = ReadLayerAsync(source, i, layer, diffId, store, budget, limits, window, tracker, failFast.Token);
        }

        var applier = new LayerApplier(store, options.Xattrs ?? XattrPolicy.ForCurrentUser());
        long uncompressed = 0;
        try
        {
            for (int i = 0; i < total; i++)
            {
                var index = await reads[i].ConfigureAwait(false);
                await applier.ApplyAsync(index, failFast.Token).ConfigureAwait(false);
                uncompressed += index.UncompressedBytes;
                window.Applied(i);
                tracker.SetState(i, LayerState.Done);
            }
        }
        catch
        {
            await failFast.CancelAsync().ConfigureAwait(false);
            await Task.WhenAll(reads.Select(r => r.ContinueWith(_ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default))).ConfigureAwait(false);
            throw;
        }
        return (applier.Tree, uncompressed);
    }

    private static async Task<LayerIndex> ReadLayerAsync(
        IImageSource source, int number, Descriptor layer, string? diffId, Tree.IContentStore store, UnpackBudget budget,
        TarReaderLimits limits, ReadAheadWindow window, ProgressTracker tracker, CancellationToken cancellationToken)
    {
        await window.WaitTurnAsync(number, cancellationToken).ConfigureAwait(false);
        try
        {
            tracker.SetState(number, LayerState.Downloading);
            var raw = await source.OpenBlobAsync(layer, cancellationToken).ConfigureAwait(false);
            await using var verified = new VerifyingStream(new CountingStream(raw, bytes => tracker.AddBytes(number, bytes)), layer);
            var index = await LayerIndexer.IndexAsync(layer.Digest, verified, diffId, store, budget, limits, cancellationToken).ConfigureAwait(false);
            tracker.SetState(number, LayerState.Applying);
            return index;
        }
        finally
        {
            window.ReadFinished();
        }
    }
}
