using System.Diagnostics;
using Decant.Cache;
using Decant.Layers;
using Decant.Manifests;
using Decant.Model;
using Decant.References;
using Decant.Semantics;
using Decant.Sources;
using Decant.Writers;

namespace Decant.Export;

/// <summary>
/// The whole pipeline: reference → source → verified blobs → per-layer reading (concurrent) →
/// layer semantics (in order, in one place) → writer. On any failure everything this run created
/// is removed.
/// </summary>
public static class ImageExporter
{
    private const string CleanupFailureKey = "Decant.CleanupFailure";

    /// <summary>
    /// Exports the image <paramref name="reference"/> (e.g. <c>oci:./layout:tag</c>) as the options say.
    /// On failure everything the export created is removed; if that removal itself failed,
    /// <see cref="CleanupFailureOf"/> tells what was left behind.
    /// </summary>
    public static async Task<ExportResult> ExportAsync(string reference, ExportOptions options, IProgress<ExportProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(reference);
        ArgumentNullException.ThrowIfNull(options);
        Validate(options);
        progress?.Report(new ExportProgress { Stage = ExportStage.Resolving });
        await using var source = await ImageSources.OpenAsync(ImageReference.ParseWithBareNames(reference), options.Source, cancellationToken).ConfigureAwait(false);
        return await ExportAsync(source, reference, options, progress, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Exports the image a host's own <paramref name="source"/> serves (its root descriptor, then
    /// manifests and blobs, all verified here as for every built-in transport). The source stays
    /// the caller's to dispose; <see cref="ExportOptions.Source"/> does not apply.
    /// </summary>
    public static Task<ExportResult> ExportAsync(IImageSource source, ExportOptions options, IProgress<ExportProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(options);
        Validate(options);
        return ExportAsync(source, null, options, progress, cancellationToken);
    }

    /// <summary>The export itself; <paramref name="referenceText"/> is what the user asked for, remembered by the cache (null: the manifest digest).</summary>
    private static async Task<ExportResult> ExportAsync(IImageSource source, string? referenceText, ExportOptions options, IProgress<ExportProgress>? progress, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        progress?.Report(new ExportProgress { Stage = ExportStage.Resolving });
        var image = await ImageResolver.ResolveAsync(source, options.Platform, cancellationToken).ConfigureAwait(false);

        var bundle = options.Bundle ? OutputBundle.Create(options) : null;
        try
        {
            var target = new WriterTarget(bundle?.RootfsPath ?? options.Output, options.Force, options.ResolvedOwnership, image.ManifestDigest);
            var writer = await options.ResolvedFormat.CreateWriterAsync(options.FormatOptions, target, cancellationToken).ConfigureAwait(false);
            ExportResult result;
            try
            {
                await using var tracker = new ProgressTracker(image.Layers, progress);
                var counters = new CacheCounters();
                options.Cache?.BeforeExport();
                var (tree, uncompressed) = await ReadAndApplyLayersAsync(source, image, writer.Content, options, counters, tracker, cancellationToken).ConfigureAwait(false);
                tracker.SetStage(ExportStage.Writing);
                // The last layer's read and apply may have finished synchronously inside one another's
                // completions, all still on this stack and each holding the last layer's index: leave
                // them, so that index is garbage before the commit lays out the image.
                await Task.Yield();
                MemoryGovernor.BetweenPhases();
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
                if (options.Cache is { } cache)
                {
                    var use = new ImageUse(referenceText ?? image.ManifestDigest.ToString(), image.ManifestDigest.ToString(), image.Platform.ToString(), [.. image.DiffIds.Select(d => d.ToString())], DateTimeOffset.UtcNow);
                    await cache.AfterExportAsync(use, counters.AddedBytesBound, cancellationToken).ConfigureAwait(false);
                }
                tracker.SetStage(ExportStage.Done);
                result = new ExportResult(image, summary, uncompressed, clock.Elapsed) { Cache = counters.Snapshot() };
            }
            catch (Exception error)
            {
                await writer.DisposeAsync().ConfigureAwait(false);
                if (writer.CleanupFailure is { } failure)
                {
                    error.Data[CleanupFailureKey] = failure;
                }
                throw;
            }
            await writer.DisposeAsync().ConfigureAwait(false);
            return writer.CleanupFailure is { } leftOver ? result with { CleanupFailure = leftOver } : result;
        }
        finally
        {
            bundle?.Dispose();
        }
    }

    /// <summary>
    /// Resolves <paramref name="reference"/> without reading any layer: the verified index, manifest
    /// and config, and the layer list, for <paramref name="platform"/> (null: the host's).
    /// </summary>
    public static async Task<ResolvedImage> ResolveAsync(string reference, SourceOptions? options = null, Platform? platform = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(reference);
        await using var source = await ImageSources.OpenAsync(ImageReference.ParseWithBareNames(reference), options ?? SourceOptions.Default, cancellationToken).ConfigureAwait(false);
        return await ImageResolver.ResolveAsync(source, platform, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// For an exception <see cref="ExportAsync(string, ExportOptions, IProgress{ExportProgress}?, CancellationToken)"/> threw: the failure to remove the partial output, if
    /// that failed too (the message says what was left and where); null when everything was removed.
    /// </summary>
    public static DecantException? CleanupFailureOf(Exception error)
    {
        ArgumentNullException.ThrowIfNull(error);
        return error.Data[CleanupFailureKey] as DecantException;
    }

    /// <summary>Refuses combinations of options that cannot work, before anything is read or written.</summary>
    private static void Validate(ExportOptions options)
    {
        var format = options.ResolvedFormat;
        if (options.Output == "-" && !format.CanStream)
        {
            throw new DecantException(DecantErrorKind.Usage, $"standard output (\"-\") takes a streamed format ({string.Join(", ", OutputFormat.All.Where(f => f.CanStream).Select(f => f.Name))}); {format.Description} output needs a path");
        }
        if (options.Bundle && !format.IsDirectory)
        {
            throw new DecantException(DecantErrorKind.Usage, $"a runtime bundle holds a directory rootfs; it does not apply to {format.Description} output");
        }
        format.CheckOptions(options.FormatOptions);
    }

    /// <summary>
    /// Reads up to <see cref="ExportOptions.Jobs"/> layers at once (within the read-ahead window),
    /// and applies each, in order, as soon as it and every layer below it are read.
    /// </summary>
    private static async Task<(Tree.MergedTree Tree, long UncompressedBytes)> ReadAndApplyLayersAsync(
        IImageSource source, ResolvedImage image, Tree.IContentStore store, ExportOptions options, CacheCounters counters,
        ProgressTracker tracker, CancellationToken cancellationToken)
    {
        using var failFast = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        // A writer that places content in arrival order stays deterministic by placing each layer in
        // its turn: a layer read ahead converts into the cache, or into a spool of the writer's
        // (IDeferringContentStore), and is placed from there in order. Without either, one layer at a time.
        bool inOrder = options.ResolvedFormat.NeedsContentInOrder;
        bool placeInOrder = inOrder && (options.Cache is not null || store is Tree.IDeferringContentStore);
        // (Reading ahead of the layer being placed is CPU-bound: no more layers at once than there are cores.)
        int jobs = !inOrder ? options.Jobs : placeInOrder ? Math.Min(options.Jobs, Environment.ProcessorCount) : 1;
        int total = image.Layers.Count;
        using var reads = new LayerReads(source, store, options.Cache, counters, new UnpackBudget(options.MaxUnpackedBytes), new TarReaderLimits(),
            new ReadAheadWindow(jobs, options.MaxBytesInFlight, image.Layers.Select(l => l.Size)), tracker, total, placeInOrder);
        counters.AddLayers(total);
        var indexes = new Task<LayerIndex>?[total];
        for (int i = 0; i < total; i++)
        {
            string? diffId = i < image.DiffIds.Count ? image.DiffIds[i].ToString() : null;
            indexes[i] = reads.ReadAsync(i, image.Layers[i], diffId, failFast.Token);
        }

        var applier = new LayerApplier(store, options.Xattrs ?? options.ResolvedFormat.DefaultXattrs);
        long uncompressed = 0;
        try
        {
            for (int i = 0; i < total; i++)
            {
                var index = await indexes[i]!.ConfigureAwait(false);
                // Let the layer's index go once applied (its entries live on in the tree, or are gone),
                // so the indexes of layers read at once do not all stay in memory until the commit.
                indexes[i] = null;
                tracker.SetState(i, LayerState.Applying);
                await applier.ApplyAsync(index, failFast.Token).ConfigureAwait(false);
                uncompressed += index.UncompressedBytes;
                reads.Window.Applied(i);
                tracker.SetState(i, LayerState.Done);
            }
        }
        catch
        {
            await failFast.CancelAsync().ConfigureAwait(false);
            await Task.WhenAll(indexes.OfType<Task<LayerIndex>>().Select(r => r.ContinueWith(_ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default))).ConfigureAwait(false);
            throw;
        }
        return (applier.Tree, uncompressed);
    }
}
