using Decant.Blobs;
using Decant.Model;
using Decant.Tree;

namespace Decant.Layers;

/// <summary>
/// Per-layer work, independent of every other layer: decompress (detected by magic bytes), parse
/// the tar, store each regular file's content in the writer's store, and check the uncompressed stream against the config's diff_id.
/// </summary>
internal static class LayerIndexer
{
    /// <summary>Reads one verified layer blob into a <see cref="LayerIndex"/>, storing regular files' contents in <paramref name="store"/>.</summary>
    /// <param name="layerDigest">The blob's digest, for messages; errors are marked with it.</param>
    /// <param name="verifiedBlob">The compressed blob, already checked against its digest and size as it is read; it is read to the end.</param>
    /// <param name="expectedDiffId">The config's diff_id for this layer (<c>sha256:…</c>), or null to skip the check.</param>
    /// <param name="store">Where regular files' bytes go: the writer's content store, through the cache's objects or not.</param>
    /// <param name="budget">The export-wide limit on uncompressed bytes, charged as the tar is read.</param>
    /// <param name="limits">The bounds on tar headers, PAX records, sparse maps and xattrs.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <param name="decompressAhead">When to read the blob and its decompressed stream ahead on separate tasks, worth it with a free core: null never, else from the first read at which it returns true.</param>
    /// <param name="recorder">Sees the whole uncompressed tar and where each file's data lies (the layer cache's record), or null.</param>
    /// <param name="files">The blob's own stream when its files' data are files on disk (an uncompressed containers-storage layer), or null.</param>
    /// <param name="blobDigestChecked">Whether <paramref name="verifiedBlob"/> is checked against <paramref name="layerDigest"/> as it is read: an uncompressed blob's diff_id is then that digest, and it is not hashed again.</param>
    /// <exception cref="DecantException">The layer is malformed, too large, or its uncompressed digest is not <paramref name="expectedDiffId"/>.</exception>
    public static async Task<LayerIndex> IndexAsync(
        string layerDigest,
        Stream verifiedBlob,
        string? expectedDiffId,
        ILayerContentStore store,
        UnpackBudget budget,
        TarReaderLimits limits,
        CancellationToken cancellationToken,
        Func<bool>? decompressAhead = null,
        ILayerRecorder? recorder = null,
        IFileBackedStream? files = null,
        bool blobDigestChecked = false)
    {
        try
        {
            // With a free core: fetching and digest-checking the blob, decompressing it, and hashing,
            // parsing and writing its entries each run on their own task, a few chunks apart.
            Stream compressed = decompressAhead is null ? verifiedBlob : new ReadAheadStream(verifiedBlob, decompressAhead);
            var decompressed = await Decompression.OpenAsync(compressed, cancellationToken).ConfigureAwait(false);
            Stream uncompressed = decompressed;
            if (decompressAhead is not null)
            {
                uncompressed = new ReadAheadStream(uncompressed, decompressAhead);
            }
            string? knownDiffId = blobDigestChecked && decompressed.Compression == LayerCompression.None && layerDigest.StartsWith("sha256:", StringComparison.Ordinal) ? layerDigest : null;
            await using var diffId = new DiffIdStream(uncompressed, budget, recorder, knownDiffId);
            var entries = await ReadEntriesAsync(new LayerTarReader(diffId, limits), store, held: null, budget, recorder, cancellationToken, files).ConfigureAwait(false);
            if (recorder is not null)
            {
                await recorder.CompleteAsync(cancellationToken).ConfigureAwait(false);
            }
            // Whatever follows the compressed stream must still be read: the blob digest covers every byte.
            await compressed.CopyToAsync(Stream.Null, cancellationToken).ConfigureAwait(false);
            string actualDiffId = diffId.DiffId;
            if (expectedDiffId is not null && !string.Equals(expectedDiffId, actualDiffId, StringComparison.Ordinal))
            {
                throw new DecantException(DecantErrorKind.DigestMismatch, $"uncompressed content is {actualDiffId}, but the image config's diff_id says {expectedDiffId}");
            }
            return new LayerIndex { Digest = layerDigest, Entries = entries, DiffId = actualDiffId, UncompressedBytes = diffId.BytesRead };
        }
        catch (DecantException error)
        {
            throw error.InLayer(layerDigest);
        }
    }

    /// <summary>
    /// Reads a layer from its cache record (<paramref name="recorded"/>, the layer's exact tar with
    /// file contents held as objects): the same parse, with each held content placed into the
    /// writer's store instead of read. Nothing is decompressed or hashed; the record was checked when it was made.
    /// </summary>
    /// <param name="layerDigest">The layer's blob digest, for messages.</param>
    /// <param name="recorded">The record's tar stream, which places its held contents.</param>
    /// <param name="diffId">The layer's diff_id, the record's key.</param>
    /// <param name="store">Where contents the record holds inline go.</param>
    /// <param name="budget">The export-wide limit on uncompressed bytes.</param>
    /// <param name="limits">The bounds on tar headers.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    public static async Task<LayerIndex> IndexRecordedAsync<TRecorded>(
        string layerDigest, TRecorded recorded, string diffId, ILayerContentStore store, UnpackBudget budget, TarReaderLimits limits, CancellationToken cancellationToken)
        where TRecorded : Stream, IStoredContentSource
    {
        try
        {
            var reader = new LayerTarReader(recorded, limits);
            var entries = await ReadEntriesAsync(reader, store, recorded, budget, recorder: null, cancellationToken).ConfigureAwait(false);
            return new LayerIndex { Digest = layerDigest, Entries = entries, DiffId = diffId, UncompressedBytes = reader.BytesRead };
        }
        catch (DecantException error)
        {
            throw error.InLayer(layerDigest);
        }
    }

    /// <summary>Parses every entry, storing (or, from a record, placing) each regular file's content; the reader is drained to the stream's end.</summary>
    private static async Task<List<IndexedEntry>> ReadEntriesAsync(
        LayerTarReader reader, ILayerContentStore store, IStoredContentSource? held, UnpackBudget budget, ILayerRecorder? recorder, CancellationToken cancellationToken, IFileBackedStream? files = null)
    {
        var entries = new List<IndexedEntry>();
        while (await reader.ReadNextAsync(cancellationToken).ConfigureAwait(false) is { } header)
        {
            ContentRef? content = null;
            bool byReference = false;
            var (start, length, sparseMap) = reader.CurrentStoredData;
            if (recorder is not null)
            {
                byReference = await recorder.BeginDataAsync(start, length, header.Kind == TarEntryKind.RegularFile, sparseMap, cancellationToken).ConfigureAwait(false);
            }
            if (header.Kind == TarEntryKind.RegularFile)
            {
                // A sparse file's holes unpack to bytes the stream never carries: a 3 KB layer can
                // claim 16 TiB. They count against the limit before any output is written.
                ChargeHoles(budget, reader.CurrentHoleBytes, header);
                // An entry without xattrs gives its file's whole metadata now, for a store that applies it as it writes.
                var hint = header.Xattrs.Count == 0
                    ? new FileMetadataHint(header.Mode & 0xFFF, header.Uid, header.Gid, header.ModificationTime, header.AccessTime ?? header.ModificationTime, header.Name)
                    : null;
                content = held is null ? null : await held.TryPlaceAsync(start, length, header.Size, hint, cancellationToken).ConfigureAwait(false);
                if (content is null)
                {
                    // A file on disk holds the data (not a sparse entry's, whose stored bytes are not the content).
                    using var dataFile = files is not null && sparseMap is null && length == header.Size && header.Size > 0 ? files.OpenDataFile(start, header.Size) : null;
                    (content, string? objectDigest) = await store.StoreAsync(reader.OpenData(), header.Size, byReference, dataFile, hint, cancellationToken).ConfigureAwait(false);
                    if (byReference)
                    {
                        await recorder!.EndDataAsync(objectDigest!, header.Size, cancellationToken).ConfigureAwait(false);
                    }
                }
            }
            entries.Add(new IndexedEntry { Header = header, Content = content });
        }
        await reader.DrainAsync(cancellationToken).ConfigureAwait(false);
        return entries;
    }

    private static void ChargeHoles(UnpackBudget budget, long holeBytes, TarHeader header)
    {
        try
        {
            budget.Consume(holeBytes);
        }
        catch (DecantException error)
        {
            throw new DecantException(error.Kind, $"{error.Message}: the sparse file is {header.Size} bytes, {holeBytes} of them holes", error) { Entry = header.Name };
        }
    }
}
