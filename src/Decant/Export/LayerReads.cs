using Decant.Blobs;
using Decant.Cache;
using Decant.Layers;
using Decant.Manifests;
using Decant.Sources;
using Decant.Tree;

namespace Decant.Export;

/// <summary>
/// Reads each layer of one export into a <see cref="LayerIndex"/>, its contents placed in the
/// writer's store: from the layer cache's record when it holds the layer (no download, no
/// decompression), else from the source's blob, converting it into the cache as it streams when
/// there is one. Every way ends in the same index, applied by the same layer rules.
/// </summary>
internal sealed class LayerReads(
    IImageSource source, IContentStore store, DecantCache? cache, CacheCounters counters, UnpackBudget budget,
    TarReaderLimits limits, ReadAheadWindow window, ProgressTracker tracker)
{
    /// <summary>The smallest compressed layer worth decompressing on its own task.</summary>
    private const long MinReadAheadLayerSize = 1 << 20;

    /// <summary>The window that decides when each layer may start.</summary>
    public ReadAheadWindow Window => window;

    /// <summary>Reads layer <paramref name="number"/> (whose config diff_id is <paramref name="diffId"/>, null when the config lacks it) once its turn in the window comes.</summary>
    public async Task<LayerIndex> ReadAsync(int number, Descriptor layer, string? diffId, CancellationToken cancellationToken)
    {
        await window.WaitTurnAsync(number, cancellationToken).ConfigureAwait(false);
        try
        {
            if (cache is null || diffId is null)
            {
                return await DownloadAsync(number, layer, diffId, new DirectLayerContent(store), recorder: null, cancellationToken).ConfigureAwait(false);
            }
            if (await TryReadCachedAsync(cache, number, layer, diffId, cancellationToken).ConfigureAwait(false) is { } cached)
            {
                return cached;
            }
            // Converting holds the layer's lock: another process converting it is waited for, then used.
            using var converting = await cache.Layers.LockAsync(diffId, cancellationToken).ConfigureAwait(false);
            if (await TryReadCachedAsync(cache, number, layer, diffId, cancellationToken).ConfigureAwait(false) is { } convertedMeanwhile)
            {
                return convertedMeanwhile;
            }
            LayerIndex? index = null;
            var objects = new ObjectContentStore(cache.Layers.Objects, store, counters);
            await cache.Layers.PublishAsync(diffId, async (record, token) =>
            {
                await using var recorder = new SplitStreamRecorder(record);
                index = await DownloadAsync(number, layer, diffId, objects, recorder, token).ConfigureAwait(false);
            }, cancellationToken).ConfigureAwait(false);
            return index!;
        }
        finally
        {
            window.ReadFinished();
        }
    }

    /// <summary>Reads the layer from its cache record; null when the cache does not hold it whole.</summary>
    private async Task<LayerIndex?> TryReadCachedAsync(DecantCache cache, int number, Descriptor layer, string diffId, CancellationToken cancellationToken)
    {
        if (await cache.Layers.FindAsync(diffId, cancellationToken).ConfigureAwait(false) is not { } path)
        {
            return null;
        }
        FileStream file;
        try
        {
            file = new FileStream(path, new FileStreamOptions { Mode = FileMode.Open, Access = FileAccess.Read, Options = FileOptions.Asynchronous | FileOptions.SequentialScan });
        }
        catch (FileNotFoundException)
        {
            return null; // pruned since it was found
        }
        await using (file.ConfigureAwait(false))
        {
            tracker.SetState(number, LayerState.Cached);
            var placer = new ObjectContentStore(cache.Layers.Objects, store, counters);
            await using var recorded = await RecordedLayerStream.OpenAsync(file, cache.Layers.Objects, placer, budget, cancellationToken).ConfigureAwait(false);
            var index = await LayerIndexer.IndexRecordedAsync(layer.Digest, recorded, diffId, placer, budget, limits, cancellationToken).ConfigureAwait(false);
            counters.LayerFromCache();
            tracker.SetState(number, LayerState.Read);
            return index;
        }
    }

    /// <summary>Fetches, verifies, decompresses and reads the layer's blob, its contents going to <paramref name="contents"/>.</summary>
    private async Task<LayerIndex> DownloadAsync(int number, Descriptor layer, string? diffId, ILayerContentStore contents, ILayerRecorder? recorder, CancellationToken cancellationToken)
    {
        tracker.SetState(number, LayerState.Downloading);
        long downloaded = 0;
        var raw = await source.OpenBlobAsync(layer, cancellationToken).ConfigureAwait(false);
        await using var verified = new VerifyingStream(new CountingStream(raw, bytes =>
        {
            downloaded += bytes;
            tracker.AddBytes(number, bytes);
        }), layer);
        // With fewer layers at once than cores, a core is free to decompress ahead of the rest of the work.
        // Not for small layers: the read-ahead buffers (2 MiB a layer) would cost more than they save.
        bool decompressAhead = window.Jobs < Environment.ProcessorCount && layer.Size >= MinReadAheadLayerSize;
        var index = await LayerIndexer.IndexAsync(layer.Digest, verified, diffId, contents, budget, limits, cancellationToken, decompressAhead, recorder).ConfigureAwait(false);
        counters.LayerConverted(downloaded, index.UncompressedBytes);
        tracker.SetState(number, LayerState.Read);
        return index;
    }
}
