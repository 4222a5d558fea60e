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
    /// <param name="store">Where regular files' bytes go: the writer's content store.</param>
    /// <param name="budget">The export-wide limit on uncompressed bytes, charged as the tar is read.</param>
    /// <param name="limits">The bounds on tar headers, PAX records, sparse maps and xattrs.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <param name="decompressAhead">Whether to read the blob and its decompressed stream ahead on separate tasks (worth it with a free core).</param>
    /// <param name="recorder">Sees the whole uncompressed tar and where each file's data lies (the layer cache's record), or null.</param>
    /// <exception cref="DecantException">The layer is malformed, too large, or its uncompressed digest is not <paramref name="expectedDiffId"/>.</exception>
    public static async Task<LayerIndex> IndexAsync(
        string layerDigest,
        Stream verifiedBlob,
        string? expectedDiffId,
        IContentStore store,
        UnpackBudget budget,
        TarReaderLimits limits,
        CancellationToken cancellationToken,
        bool decompressAhead = false,
        ILayerRecorder? recorder = null)
    {
        try
        {
            // With a free core: fetching and digest-checking the blob, decompressing it, and hashing,
            // parsing and writing its entries each run on their own task, a few chunks apart.
            Stream compressed = decompressAhead ? new ReadAheadStream(verifiedBlob) : verifiedBlob;
            Stream uncompressed = await Decompression.OpenAsync(compressed, cancellationToken).ConfigureAwait(false);
            if (decompressAhead)
            {
                uncompressed = new ReadAheadStream(uncompressed);
            }
            await using var diffId = new DiffIdStream(uncompressed, budget, recorder);
            var reader = new LayerTarReader(diffId, limits);
            var entries = new List<IndexedEntry>();
            while (await reader.ReadNextAsync(cancellationToken).ConfigureAwait(false) is { } header)
            {
                ContentRef? content = null;
                bool byReference = false;
                if (recorder is not null)
                {
                    var (start, length, sparseMap) = reader.CurrentStoredData;
                    byReference = await recorder.BeginDataAsync(start, length, header.Kind == TarEntryKind.RegularFile, sparseMap, cancellationToken).ConfigureAwait(false);
                }
                if (header.Kind == TarEntryKind.RegularFile)
                {
                    // A sparse file's holes unpack to bytes the stream never carries: a 3 KB layer can
                    // claim 16 TiB. They count against the limit before any output is written.
                    ChargeHoles(budget, reader.CurrentHoleBytes, header);
                    content = await store.WriteAsync(reader.OpenData(), header.Size, cancellationToken).ConfigureAwait(false);
                    if (byReference)
                    {
                        await recorder!.EndDataAsync(content, cancellationToken).ConfigureAwait(false);
                    }
                }
                entries.Add(new IndexedEntry { Header = header, Content = content });
                MemoryGovernor.Tick();
            }
            await reader.DrainAsync(cancellationToken).ConfigureAwait(false);
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
