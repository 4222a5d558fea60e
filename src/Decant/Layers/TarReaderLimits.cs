namespace Decant.Layers;

/// <summary>
/// Bounds on what one tar entry's metadata may make <see cref="LayerTarReader"/> hold in memory. An
/// archive that exceeds one fails with <see cref="Model.DecantErrorKind.LimitExceeded"/>.
/// </summary>
internal sealed record TarReaderLimits
{
    /// <summary>The defaults: 1 MiB of PAX records, 64 KiB long names, 1 MiB of xattrs, 100k sparse segments.</summary>
    public static TarReaderLimits Default { get; } = new();

    /// <summary>The most PAX extended-header bytes ('x' records) one entry may carry, in total.</summary>
    public int MaxPaxHeaderBytes { get; init; } = 1024 * 1024;

    /// <summary>The longest GNU long name or long link name ('L' or 'K' record), in bytes.</summary>
    public int MaxLongNameBytes { get; init; } = 64 * 1024;

    /// <summary>The most extended-attribute bytes (names plus values) one entry may carry.</summary>
    public int MaxXattrBytesPerEntry { get; init; } = 1024 * 1024;

    /// <summary>The most segments a sparse file's map may list.</summary>
    public int MaxSparseMapEntries { get; init; } = 100_000;
}
