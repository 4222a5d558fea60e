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
/// <remarks>
/// With <c>placeInOrder</c> (a writer that places content in arrival order, such as ext4, and a
/// cache or a writer's spool), the layer whose turn it is reads and places at once. Without a cache,
/// the layers above it read into the writer's spool (<see cref="IDeferringContentStore"/>) and each
/// is placed from there once the layer below it has been. With one, the layer whose turn it is converts and places at once; the layers above it are
/// converted into the cache concurrently, without placing anything, and each is then placed from
/// its record only once the layer below it has been. The writer sees the contents in layer order
/// either way, so the output is the same bytes as a warm export's, while decompression runs in parallel.
/// </remarks>
internal sealed class LayerReads(
    IImageSource source, IContentStore store, DecantCache? cache, CacheCounters counters, UnpackBudget budget,
    TarReaderLimits limits, ReadAheadWindow window, ProgressTracker tracker, int layers, bool placeInOrder) : IDisposable
{
    private readonly List<LayerLock> _holds = [];
    private readonly int[] _jobFinished = new int[layers];
    private readonly TaskCompletionSource[]? _placed = placeInOrder
        ? [.. Enumerable.Range(0, layers).Select(_ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously))]
        : null;

    /// <summary>How often a layer another process holds is looked at again.</summary>
    private static readonly TimeSpan LockPoll = TimeSpan.FromMilliseconds(20);

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
            bool verifiable = source.CanVerify(layer);
            if (cache is null || diffId is null || !verifiable)
            {
                if (!verifiable && cache is not null && diffId is not null
                    && await TryReadVerifiedFromCacheAsync(cache, number, layer, diffId, cancellationToken).ConfigureAwait(false) is { } verified)
                {
                    return verified;
                }
                if (store is IDeferringContentStore deferring && !IsTurnToPlace(number))
                {
                    return await ReadAheadOfTurnAsync(deferring, number, layer, diffId, cancellationToken).ConfigureAwait(false);
                }
                await TurnToPlaceAsync(number, cancellationToken).ConfigureAwait(false);
                return await DownloadAsync(number, layer, diffId, new DirectLayerContent(store, counters.Placed), recorder: null, cancellationToken).ConfigureAwait(false);
            }
            return placeInOrder
                ? await ReadThroughCacheInOrderAsync(cache, number, layer, diffId, cancellationToken).ConfigureAwait(false)
                : await ReadThroughCacheAsync(cache, number, layer, diffId, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _placed?[number].TrySetResult();
            FinishJob(number);
        }
    }

    /// <summary>
    /// A layer its source cannot serve byte for byte is read from the cache when the cache holds it
    /// (converted before from a source that could): the verified layer rather than its rebuilt copy.
    /// Null when the cache does not hold it; the rebuilt copy is then read without the cache.
    /// </summary>
    private async Task<LayerIndex?> TryReadVerifiedFromCacheAsync(DecantCache cache, int number, Descriptor layer, string diffId, CancellationToken cancellationToken)
    {
        var use = Hold(await cache.Layers.LockAsync(diffId, LockMode.Shared, cancellationToken).ConfigureAwait(false));
        if (await cache.Layers.FindAsync(diffId, cancellationToken).ConfigureAwait(false) is not null)
        {
            // Reading a record places its contents, so it waits for its turn.
            await TurnToPlaceAsync(number, cancellationToken).ConfigureAwait(false);
            if (await TryReadCachedAsync(cache, number, layer, diffId, countAsCached: true, cancellationToken, alreadyChecked: true).ConfigureAwait(false) is { } index)
            {
                return index;
            }
        }
        Release(use);
        return null;
    }

    /// <summary>Gives layer <paramref name="number"/>'s job slot back to the window (once: a layer converted ahead of its turn gives it back before it waits to place).</summary>
    private void FinishJob(int number)
    {
        if (Interlocked.Exchange(ref _jobFinished[number], 1) == 0)
        {
            window.ReadFinished();
        }
    }

    /// <summary>
    /// Reads a layer whose turn to place has not come (with <c>placeInOrder</c>, no cache) into the
    /// writer's spool, gives its job slot to the next layer, and places it from the spool in its turn;
    /// when its turn comes while it is still read, the rest of it goes straight to the writer.
    /// </summary>
    private async Task<LayerIndex> ReadAheadOfTurnAsync(IDeferringContentStore deferring, int number, Descriptor layer, string? diffId, CancellationToken cancellationToken)
    {
        using var deferred = deferring.Defer(_placed![number - 1].Task);
        var index = await DownloadAsync(number, layer, diffId, new DirectLayerContent(deferred), recorder: null, cancellationToken).ConfigureAwait(false);
        FinishJob(number);
        await TurnToPlaceAsync(number, cancellationToken).ConfigureAwait(false);
        await deferred.PlaceAsync(cancellationToken).ConfigureAwait(false);
        return index;
    }

    /// <summary>Whether layer <paramref name="number"/> may place its contents now: no order to keep, or the layer below has placed its own.</summary>
    private bool IsTurnToPlace(int number) => _placed is null || number == 0 || _placed[number - 1].Task.IsCompleted;

    /// <summary>With <c>placeInOrder</c>, waits until the layer below has placed its contents.</summary>
    private Task TurnToPlaceAsync(int number, CancellationToken cancellationToken) =>
        IsTurnToPlace(number) ? Task.CompletedTask : _placed![number - 1].Task.WaitAsync(cancellationToken);

    /// <summary>
    /// A layer whose turn to place has come reads through the cache as without an order to keep
    /// (converting and placing at once). Any other makes sure the cache holds it (converting it
    /// without placing anything, then giving its job slot to the next layer), and places it from
    /// its record in its turn.
    /// </summary>
    private async Task<LayerIndex> ReadThroughCacheInOrderAsync(DecantCache cache, int number, Descriptor layer, string diffId, CancellationToken cancellationToken)
    {
        if (IsTurnToPlace(number))
        {
            return await ReadThroughCacheAsync(cache, number, layer, diffId, cancellationToken).ConfigureAwait(false);
        }
        while (true)
        {
            var (use, converted) = await EnsureCachedAsync(cache, number, layer, diffId, cancellationToken).ConfigureAwait(false);
            FinishJob(number);
            await TurnToPlaceAsync(number, cancellationToken).ConfigureAwait(false);
            // Found whole (or just published) and held shared since: no second presence check.
            if (await TryReadCachedAsync(cache, number, layer, diffId, countAsCached: !converted, cancellationToken, alreadyChecked: true).ConfigureAwait(false) is { } index)
            {
                return index;
            }
            Release(use); // damaged since it was found: converted again
        }
    }

    /// <summary>
    /// Holds the layer shared once the cache has it whole, converting it (contents into objects only,
    /// nothing placed) when no one else is; says whether this export converted it.
    /// </summary>
    private async Task<(LayerLock Use, bool Converted)> EnsureCachedAsync(DecantCache cache, int number, Descriptor layer, string diffId, CancellationToken cancellationToken)
    {
        while (true)
        {
            var use = Hold(await cache.Layers.LockAsync(diffId, LockMode.Shared, cancellationToken).ConfigureAwait(false));
            if (await cache.Layers.FindAsync(diffId, cancellationToken).ConfigureAwait(false) is not null)
            {
                return (use, false);
            }
            Release(use);
            if (cache.Layers.TryLock(diffId, LockMode.Exclusive) is { } converting)
            {
                Hold(converting);
                bool converted = false;
                if (await cache.Layers.FindAsync(diffId, cancellationToken).ConfigureAwait(false) is null)
                {
                    await ConvertAsync(cache, number, layer, diffId, new ObjectContentStore(cache.Layers.Objects, placeInto: null, counters, keepSmallContents: false), cancellationToken).ConfigureAwait(false);
                    converted = true;
                }
                await converting.ChangeAsync(LockMode.Shared, cancellationToken).ConfigureAwait(false);
                return (converting, converted);
            }
            await Task.Delay(LockPoll, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Reads the layer from the cache, converting it into the cache when no one else is. A layer in
    /// use is held shared until the export has read everything, so no prune removes it meanwhile;
    /// converting holds it exclusively, so another process waits, then uses the result. Waiting for
    /// an exclusive lock never happens while holding it shared (which could deadlock two exports that
    /// each use what the other wants to convert): a process that cannot convert at once looks again.
    /// </summary>
    private async Task<LayerIndex> ReadThroughCacheAsync(DecantCache cache, int number, Descriptor layer, string diffId, CancellationToken cancellationToken)
    {
        while (true)
        {
            var use = Hold(await cache.Layers.LockAsync(diffId, LockMode.Shared, cancellationToken).ConfigureAwait(false));
            if (await TryReadCachedAsync(cache, number, layer, diffId, countAsCached: true, cancellationToken).ConfigureAwait(false) is { } cached)
            {
                return cached;
            }
            Release(use);
            if (cache.Layers.TryLock(diffId, LockMode.Exclusive) is { } converting)
            {
                Hold(converting);
                if (await TryReadCachedAsync(cache, number, layer, diffId, countAsCached: true, cancellationToken).ConfigureAwait(false) is { } convertedMeanwhile)
                {
                    return convertedMeanwhile;
                }
                var index = await ConvertAsync(cache, number, layer, diffId, new ObjectContentStore(cache.Layers.Objects, store, counters), cancellationToken).ConfigureAwait(false);
                await converting.ChangeAsync(LockMode.Shared, cancellationToken).ConfigureAwait(false);
                return index;
            }
            await Task.Delay(LockPoll, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Downloads the layer and keeps it in the cache as it streams: its objects (through <paramref name="objects"/>, which may also place them), then its record, published whole.</summary>
    private async Task<LayerIndex> ConvertAsync(DecantCache cache, int number, Descriptor layer, string diffId, ObjectContentStore objects, CancellationToken cancellationToken)
    {
        if (!source.CanVerify(layer))
        {
            throw new InvalidOperationException($"layer {layer.Digest} cannot be verified, so it must not be kept in the cache under its digest");
        }
        LayerIndex? index = null;
        // Held while objects exist that no record names yet, so no sweep removes them.
        using (await cache.Layers.HoldForConversionAsync(cancellationToken).ConfigureAwait(false))
        {
            await cache.Layers.PublishAsync(diffId, async (record, token) =>
            {
                await using var recorder = new SplitStreamRecorder(record);
                index = await DownloadAsync(number, layer, diffId, objects, recorder, token).ConfigureAwait(false);
            }, cancellationToken).ConfigureAwait(false);
        }
        return index!;
    }

    private LayerLock Hold(LayerLock layerLock)
    {
        lock (_holds)
        {
            _holds.Add(layerLock);
        }
        return layerLock;
    }

    private void Release(LayerLock layerLock)
    {
        lock (_holds)
        {
            _holds.Remove(layerLock);
        }
        layerLock.Dispose();
    }

    /// <summary>Lets go of the cached layers this export used (the contents are in the writer's store by now).</summary>
    public void Dispose()
    {
        lock (_holds)
        {
            _holds.ForEach(hold => hold.Dispose());
            _holds.Clear();
        }
    }

    /// <summary>Reads the layer from its cache record (counted as a layer from the cache unless this export just converted it); null when the cache does not hold it whole. With <paramref name="alreadyChecked"/> the caller has just found it whole and holds it.</summary>
    private async Task<LayerIndex?> TryReadCachedAsync(DecantCache cache, int number, Descriptor layer, string diffId, bool countAsCached, CancellationToken cancellationToken, bool alreadyChecked = false)
    {
        string? path = alreadyChecked ? cache.Layers.RecordPath(diffId) : await cache.Layers.FindAsync(diffId, cancellationToken).ConfigureAwait(false);
        if (path is null)
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
            // A layer this export just converted was charged to the budget then.
            var charged = countAsCached ? budget : new UnpackBudget(long.MaxValue);
            await using var recorded = await RecordedLayerStream.OpenAsync(file, cache.Layers.Objects, placer, charged, cancellationToken).ConfigureAwait(false);
            var index = await LayerIndexer.IndexRecordedAsync(layer.Digest, recorded, diffId, placer, charged, limits, cancellationToken).ConfigureAwait(false);
            if (countAsCached)
            {
                counters.LayerFromCache();
                cache.Layers.MarkUsed(diffId);
            }
            tracker.SetState(number, LayerState.Read);
            return index;
        }
    }

    /// <summary>
    /// Fetches, verifies, decompresses and reads the layer's blob, its contents going to
    /// <paramref name="contents"/>; a blob its source cannot serve byte for byte
    /// (<see cref="IImageSource.CanVerify"/>) is read unverified, and counted so.
    /// </summary>
    private async Task<LayerIndex> DownloadAsync(int number, Descriptor layer, string? diffId, ILayerContentStore contents, ILayerRecorder? recorder, CancellationToken cancellationToken)
    {
        tracker.SetState(number, LayerState.Downloading);
        long downloaded = 0;
        bool verify = source.CanVerify(layer);
        var raw = await source.OpenBlobAsync(layer, cancellationToken).ConfigureAwait(false);
        Stream counted = new CountingStream(raw, bytes =>
        {
            downloaded += bytes;
            tracker.AddBytes(number, bytes);
        });
        await using var verified = verify ? new VerifyingStream(counted, layer) : counted;
        // With fewer layers read at once than cores, a core is free to decompress ahead of the rest of
        // the work: from the start when fewer may ever be read at once, else from when the last layers
        // are read (the rest finished early). Not for small layers: the read-ahead buffers (2 MiB a
        // layer) would cost more than they save.
        Func<bool>? decompressAhead = layer.Size < MinReadAheadLayerSize ? null
            : window.Jobs < Environment.ProcessorCount ? static () => true
            : window.CoreIsFree;
        var index = await LayerIndexer.IndexAsync(layer.Digest, verified, verify ? diffId : null, contents, budget, limits, cancellationToken, decompressAhead, recorder, raw as IFileBackedStream, blobDigestChecked: verify).ConfigureAwait(false);
        counters.LayerConverted(downloaded, index.UncompressedBytes);
        if (!verify)
        {
            counters.LayerUnverified();
        }
        tracker.SetState(number, LayerState.Read);
        return index;
    }
}
