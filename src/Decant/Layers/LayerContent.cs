using Decant.Tree;
using Microsoft.Win32.SafeHandles;

namespace Decant.Layers;

/// <summary>
/// Where a layer's regular file contents go as it is read: the writer's store alone, or (with the
/// layer cache) a cache object that is then placed into the writer's store.
/// </summary>
internal interface ILayerContentStore
{
    /// <summary>
    /// Stores a regular file's content, exactly <paramref name="size"/> bytes of <paramref name="data"/>.
    /// With <paramref name="keepAsObject"/> (the layer's record keeps the file by reference) it is also
    /// kept as a cache object, whose digest is returned; otherwise the digest is null.
    /// <paramref name="dataFile"/>, when not null, is a file whose first <paramref name="size"/> bytes
    /// are the same content (a containers-storage layer's file): a store may take the content from it
    /// (a reflink, or a copy in the kernel) instead of writing what it reads. Whatever the store does
    /// not read of <paramref name="data"/> is still read by the layer's reader, for its digest.
    /// <paramref name="hint"/>, when not null, is the file's metadata, for a writer's store that takes it.
    /// </summary>
    ValueTask<(ContentRef Content, string? ObjectDigest)> StoreAsync(Stream data, long size, bool keepAsObject, SafeFileHandle? dataFile, FileMetadataHint? hint, CancellationToken cancellationToken);
}

/// <summary>
/// Contents go straight into the writer's store (no cache): a no-cache ext4 export streams them into
/// the image's blocks. A content that is also a file on disk goes in by the store's own means where
/// it takes files (a reflink or a kernel copy), counted in <paramref name="placed"/>.
/// </summary>
internal sealed class DirectLayerContent(IContentStore store, Action<bool, long>? placed = null) : ILayerContentStore
{
    /// <inheritdoc/>
    public async ValueTask<(ContentRef Content, string? ObjectDigest)> StoreAsync(Stream data, long size, bool keepAsObject, SafeFileHandle? dataFile, FileMetadataHint? hint, CancellationToken cancellationToken)
    {
        if (keepAsObject)
        {
            throw new InvalidOperationException("contents kept by reference need the layer cache's object store");
        }
        if (dataFile is not null && store is IFileContentStore files)
        {
            var content = await files.PlaceAsync(dataFile, size, hint, cancellationToken).ConfigureAwait(false);
            placed?.Invoke(content.Reflinked, size);
            return (content.Content, null);
        }
        return (await store.WriteAsync(data, size, hint, cancellationToken).ConfigureAwait(false), null);
    }
}

/// <summary>
/// A layer's tar stream whose file contents are held apart from it (a cache record: contents are
/// objects): the reader asks for the content at an entry's data, and skips the data unread.
/// </summary>
internal interface IStoredContentSource
{
    /// <summary>
    /// When the <paramref name="storedLength"/> bytes of archive data at <paramref name="start"/> are
    /// a held content of <paramref name="size"/> bytes, places it into the writer's store (with
    /// <paramref name="hint"/>, the file's metadata, when not null) and returns the store's handle;
    /// null when the data is in the stream itself (read it as usual).
    /// </summary>
    ValueTask<ContentRef?> TryPlaceAsync(long start, long storedLength, long size, FileMetadataHint? hint, CancellationToken cancellationToken);
}

/// <summary>A stream that can pass over bytes without producing them (a cache record over an object's bytes).</summary>
internal interface ISkippableStream
{
    /// <summary>Passes over up to <paramref name="count"/> bytes without reading them; returns how many (0 when the next bytes must be read).</summary>
    long Skip(long count);
}
