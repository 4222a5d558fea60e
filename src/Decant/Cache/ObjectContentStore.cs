using Decant.Layers;
using Decant.Model;
using Decant.Tree;
using Microsoft.Win32.SafeHandles;

namespace Decant.Cache;

/// <summary>
/// A layer's contents as cache objects (<see cref="ObjectStore"/>, named by fs-verity digest),
/// each then placed into the writer's store (reflinked or copied in the kernel where the store can):
/// the writer never knows the content came through the cache. Contents the record keeps inline go
/// straight to the writer's store. Without a writer's store every content becomes an object (filling the cache alone).
/// </summary>
/// <remarks>
/// With <c>keepSmallContents</c> false and no writer's store, a content the record keeps inline is
/// not stored anywhere (the layer is converted for the cache alone, to be placed from its record later).
/// </remarks>
internal sealed class ObjectContentStore(ObjectStore objects, IContentStore? placeInto = null, CacheCounters? counters = null, bool keepSmallContents = true) : ILayerContentStore
{
    /// <summary>Where contents the record keeps inline go: straight into the writer's store (one instance, not one per file).</summary>
    private readonly DirectLayerContent? _inline = placeInto is null ? null : new DirectLayerContent(placeInto, counters is null ? null : counters.Placed);

    /// <inheritdoc/>
    public async ValueTask<(ContentRef Content, string? ObjectDigest)> StoreAsync(Stream data, long size, bool keepAsObject, SafeFileHandle? dataFile, FileMetadataHint? hint, CancellationToken cancellationToken)
    {
        if (_inline is not null && !keepAsObject)
        {
            return await _inline.StoreAsync(data, size, keepAsObject: false, dataFile, hint, cancellationToken).ConfigureAwait(false);
        }
        if (!keepAsObject && !keepSmallContents)
        {
            return (new RecordedInline(size), null);
        }
        var added = await objects.AddAsync(data, size, dataFile, cancellationToken).ConfigureAwait(false);
        if (added.AlreadyPresent)
        {
            counters?.ObjectAlreadyPresent();
        }
        else
        {
            counters?.ObjectAdded();
        }
        // An object already present, or a reflink of a file on disk, has its data on disk: it is cloned in turn.
        var content = placeInto is null ? new ObjectContent(added.Digest, size)
            : added.AlreadyPresent || added.Cloned ? await PlaceAsync(added.Digest, size, hint, cancellationToken).ConfigureAwait(false)
            : await PlaceJustWrittenAsync(placeInto, added.Digest, size, hint, cancellationToken).ConfigureAwait(false);
        return (content, added.Digest);
    }

    /// <summary>
    /// Places an object this store has just written by reading it back (from the page cache) into
    /// the writer's store as a stream. Cloning it would make XFS write the object to disk first,
    /// synchronously (a reflink needs the source's data on disk), and a kernel copy clones where it can.
    /// </summary>
    private async ValueTask<ContentRef> PlaceJustWrittenAsync(IContentStore store, string digest, long size, FileMetadataHint? hint, CancellationToken cancellationToken)
    {
        using var handle = SplitStream.OpenObject(objects, digest, size);
        await using var stream = new FileContentStream(handle, size);
        var content = await store.WriteAsync(stream, size, hint, cancellationToken).ConfigureAwait(false);
        counters?.Placed(reflinked: false, size);
        return content;
    }

    /// <summary>Places the object <paramref name="digest"/> of <paramref name="size"/> bytes into the writer's store (with the file's metadata <paramref name="hint"/>, when not null).</summary>
    /// <exception cref="DecantException">The object is missing or of another size (the cache is damaged).</exception>
    public async ValueTask<ContentRef> PlaceAsync(string digest, long size, FileMetadataHint? hint, CancellationToken cancellationToken)
    {
        var store = placeInto ?? throw new InvalidOperationException("there is no writer's store to place contents into");
        using var handle = SplitStream.OpenObject(objects, digest, size);
        PlacedContent placed;
        try
        {
            placed = await store.PlaceAsync(handle, size, hint, cancellationToken).ConfigureAwait(false);
        }
        catch (IOException error)
        {
            throw new DecantException(DecantErrorKind.OutputError, $"cannot place the cache object {digest} into the output: {error.Message}", error);
        }
        counters?.Placed(placed.Reflinked, size);
        return placed.Content;
    }

    /// <summary>A content only the layer's record holds (inline), for a conversion that places nothing.</summary>
    private sealed class RecordedInline(long size) : ContentRef(size);

    /// <summary>A content held only as an object (no writer's store).</summary>
    private sealed class ObjectContent(string digest, long size) : ContentRef(size)
    {
        public string ObjectDigest { get; } = digest;
    }
}
