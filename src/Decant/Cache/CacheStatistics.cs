namespace Decant.Cache;

/// <summary>
/// What the layer cache did in one export (an export without the cache reports the same, with
/// nothing from the cache). Files and bytes "reflinked" share the blocks of a file on disk (a cache
/// object, or a containers-storage layer's file); "copied" were copied from one (in the kernel where
/// it can). Through the cache, contents of 64 bytes or less live inside the layer's record and count
/// as neither; from a containers-storage store without a cache, every non-empty file counts.
/// </summary>
public sealed record CacheStatistics
{
    /// <summary>The image's layers.</summary>
    public long LayersTotal { get; init; }

    /// <summary>Layers read from the cache: not downloaded, not decompressed.</summary>
    public long LayersFromCache { get; init; }

    /// <summary>Layers downloaded and decompressed (and, with the cache, kept in it).</summary>
    public long LayersConverted { get; init; }

    /// <summary>
    /// Of <see cref="LayersConverted"/>, layers whose diff_id could not be checked because the source
    /// could not serve their exact bytes (a containers-storage layer without its tar-split record,
    /// read from its directory); never kept in the cache.
    /// </summary>
    public long LayersUnverified { get; init; }

    /// <summary>Files whose content the output shares with a cache object or a store's file (FICLONE).</summary>
    public long FilesReflinked { get; init; }

    /// <summary>Files whose content was copied from a cache object or a store's file into the output.</summary>
    public long FilesCopied { get; init; }

    /// <summary>File contents that a converted layer held and the cache had already (from another layer or image): stored once.</summary>
    public long FilesAlreadyPresent { get; init; }

    /// <summary>Compressed layer bytes fetched from the source.</summary>
    public long BytesDownloaded { get; init; }

    /// <summary>Uncompressed layer bytes produced by decompression.</summary>
    public long BytesDecompressed { get; init; }

    /// <summary>Bytes of the files counted in <see cref="FilesReflinked"/>.</summary>
    public long BytesReflinked { get; init; }

    /// <summary>Bytes of the files counted in <see cref="FilesCopied"/>.</summary>
    public long BytesCopied { get; init; }
}

/// <summary>The counters behind <see cref="CacheStatistics"/>, added to by concurrent layer reads.</summary>
internal sealed class CacheCounters
{
    private long _layersTotal, _layersFromCache, _layersConverted, _layersUnverified, _filesReflinked, _filesCopied, _filesAlreadyPresent;
    private long _bytesDownloaded, _bytesDecompressed, _bytesReflinked, _bytesCopied;

    /// <summary>Counts the image's layers.</summary>
    public void AddLayers(int count) => Interlocked.Add(ref _layersTotal, count);

    /// <summary>Counts a layer read from its record.</summary>
    public void LayerFromCache() => Interlocked.Increment(ref _layersFromCache);

    /// <summary>Counts a layer downloaded and decompressed, with its compressed and uncompressed sizes.</summary>
    public void LayerConverted(long downloaded, long decompressed)
    {
        Interlocked.Increment(ref _layersConverted);
        Interlocked.Add(ref _bytesDownloaded, downloaded);
        Interlocked.Add(ref _bytesDecompressed, decompressed);
    }

    /// <summary>Counts a converted layer whose diff_id could not be checked.</summary>
    public void LayerUnverified() => Interlocked.Increment(ref _layersUnverified);

    /// <summary>
    /// At most how much disk space this export added to the cache: every converted layer's bytes,
    /// plus a block for each object and record it created (a small file takes a whole block).
    /// </summary>
    public long AddedBytesBound => Volatile.Read(ref _bytesDecompressed) + 4096 * (Volatile.Read(ref _objectsAdded) + Volatile.Read(ref _layersConverted));

    private long _objectsAdded;

    /// <summary>Counts a content new to the cache.</summary>
    public void ObjectAdded() => Interlocked.Increment(ref _objectsAdded);

    /// <summary>Counts a content the cache already held.</summary>
    public void ObjectAlreadyPresent() => Interlocked.Increment(ref _filesAlreadyPresent);

    /// <summary>Counts a content placed into the output from an object, by reflink or by copy.</summary>
    public void Placed(bool reflinked, long bytes)
    {
        Interlocked.Increment(ref reflinked ? ref _filesReflinked : ref _filesCopied);
        Interlocked.Add(ref reflinked ? ref _bytesReflinked : ref _bytesCopied, bytes);
    }

    /// <summary>The counts so far.</summary>
    public CacheStatistics Snapshot() => new()
    {
        LayersTotal = Volatile.Read(ref _layersTotal),
        LayersFromCache = Volatile.Read(ref _layersFromCache),
        LayersConverted = Volatile.Read(ref _layersConverted),
        LayersUnverified = Volatile.Read(ref _layersUnverified),
        FilesReflinked = Volatile.Read(ref _filesReflinked),
        FilesCopied = Volatile.Read(ref _filesCopied),
        FilesAlreadyPresent = Volatile.Read(ref _filesAlreadyPresent),
        BytesDownloaded = Volatile.Read(ref _bytesDownloaded),
        BytesDecompressed = Volatile.Read(ref _bytesDecompressed),
        BytesReflinked = Volatile.Read(ref _bytesReflinked),
        BytesCopied = Volatile.Read(ref _bytesCopied),
    };
}
