namespace Decant.Layers;

/// <summary>
/// Watches a layer being read, to keep it (the layer cache's record): it sees every byte of the
/// uncompressed tar in order, and is told where each regular file's stored data lies before that
/// data is read, so it can keep the file by reference to its stored content instead of its bytes.
/// </summary>
internal interface ILayerRecorder
{
    /// <summary>The next bytes of the uncompressed tar, as they are read.</summary>
    void Observe(ReadOnlySpan<byte> bytes);

    /// <summary>
    /// An entry's header has been read, and its data (<paramref name="storedLength"/> bytes in the
    /// archive, possibly none) starts at archive offset <paramref name="start"/>; everything before
    /// it is settled. Called for every entry. Returns whether the recorder keeps this data by
    /// reference, which it may only for a regular file: then its content must be stored and given
    /// to <see cref="EndDataAsync"/>. For a sparse file, <paramref name="sparseMap"/> says where in
    /// the content the stored bytes belong.
    /// </summary>
    ValueTask<bool> BeginDataAsync(long start, long storedLength, bool isRegularFile, IReadOnlyList<TarSparseSegment>? sparseMap, CancellationToken cancellationToken);

    /// <summary>The data <see cref="BeginDataAsync"/> kept by reference was stored as the object <paramref name="objectDigest"/> of <paramref name="size"/> bytes.</summary>
    ValueTask EndDataAsync(string objectDigest, long size, CancellationToken cancellationToken);

    /// <summary>The whole tar has been read: the recorder has seen every byte.</summary>
    ValueTask CompleteAsync(CancellationToken cancellationToken);
}
