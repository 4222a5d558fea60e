namespace Decant.Export;

/// <summary>Where an export stands as a whole.</summary>
public enum ExportStage
{
    /// <summary>Reading the reference, index, manifest and config.</summary>
    Resolving,
    /// <summary>Layers are being read and applied.</summary>
    Layers,
    /// <summary>The merged tree is being written to the output.</summary>
    Writing,
    /// <summary>The output is complete.</summary>
    Done,
}

/// <summary>Where one layer stands.</summary>
public enum LayerState
{
    /// <summary>Not started: waiting for a free job slot.</summary>
    Waiting,
    /// <summary>Its blob is being fetched, decompressed and parsed as it streams.</summary>
    Downloading,
    /// <summary>It is being read from the layer cache: nothing is downloaded or decompressed.</summary>
    Cached,
    /// <summary>Every byte of the blob has arrived; the digest and diff_id are being checked.</summary>
    Verifying,
    /// <summary>Read and verified; waiting for the layers below it to be applied first.</summary>
    Read,
    /// <summary>Being applied to the tree.</summary>
    Applying,
    /// <summary>Applied.</summary>
    Done,
}

/// <summary>One layer's progress.</summary>
public sealed record LayerProgress(int Index, string Digest, long Size, long BytesRead, LayerState State);

/// <summary>
/// A snapshot of an export's progress, reported through <see cref="IProgress{T}"/> whenever a layer
/// changes state and a few times a second while bytes flow.
/// </summary>
public sealed record ExportProgress
{
    /// <summary>Which phase the export is in; layer detail is in <see cref="Layers"/>.</summary>
    public required ExportStage Stage { get; init; }

    /// <summary>Every layer, bottom first (empty while resolving).</summary>
    public IReadOnlyList<LayerProgress> Layers { get; init; } = [];

    /// <summary>The sum of the layers' compressed sizes.</summary>
    public long TotalBytes { get; init; }

    /// <summary>Compressed bytes read so far, across all layers.</summary>
    public long BytesRead { get; init; }

    /// <summary>The recent read rate, in bytes per second.</summary>
    public double BytesPerSecond { get; init; }

    /// <summary>How many layers have been applied to the tree (computed from <see cref="Layers"/> on each call).</summary>
    public int LayersDone => Layers.Count(l => l.State == LayerState.Done);
}
