using Decant.Manifests;
using Decant.Semantics;
using Decant.Sources;
using Decant.Writers;

namespace Decant.Export;

/// <summary>Everything an export needs besides the image reference.</summary>
public sealed record ExportOptions
{
    /// <summary>The output path: a directory or a file, or "-" for standard output (a format that can stream). Missing parent directories are created.</summary>
    public required string Output { get; init; }

    /// <summary>
    /// The format; when null it is the format of <see cref="FormatOptions"/>, or else the one the
    /// output's name implies (<see cref="OutputFormat.ForOutput"/>: ".tar" or "-" a tar, ".ext4" or
    /// ".img" an ext4 image, anything else a directory).
    /// </summary>
    public OutputFormat? Format { get; init; }

    /// <summary>
    /// The format's own options (e.g. <see cref="Writers.Ext4.Ext4WriterOptions"/>), or null for its
    /// defaults. Their output and force are ignored: the export's <see cref="Output"/>,
    /// <see cref="Force"/> and <see cref="Ownership"/> apply.
    /// </summary>
    public WriterOptions? FormatOptions { get; init; }

    /// <summary>How network sources find credentials, treat TLS, use mirrors and retry; local transports ignore it.</summary>
    public Sources.SourceOptions Source { get; init; } = Sources.SourceOptions.Default;

    /// <summary>The platform to pick from a multi-platform image; null means the host's.</summary>
    public Platform? Platform { get; init; }

    /// <summary>
    /// Replace a non-empty output directory or an existing file. The new output is built beside the
    /// old one and swapped in at the end, so a failed or cancelled export leaves the old one as it was
    /// (a directory that is a mount point, or whose parent cannot be written, is emptied first instead).
    /// </summary>
    public bool Force { get; init; }

    /// <summary>Write an OCI runtime bundle: <c>OUTPUT/rootfs</c> plus <c>OUTPUT/config.json</c>.</summary>
    public bool Bundle { get; init; }

    /// <summary>Also write the image's config JSON to this file.</summary>
    public string? ConfigOutput { get; init; }

    /// <summary>How owners are written; null means exact as root and rootless otherwise.</summary>
    public OwnershipMode? Ownership { get; init; }

    /// <summary>Which xattrs reach the output; null means the default for the current user.</summary>
    public XattrPolicy? Xattrs { get; init; }

    /// <summary>
    /// The layer cache to read layers from and keep converted layers in; null (the library's default)
    /// converts every layer afresh and keeps nothing. The CLI uses <see cref="Cache.DecantCache.DefaultDirectory"/> unless told <c>--no-cache</c>.
    /// </summary>
    public Cache.DecantCache? Cache { get; init; }

    /// <summary>The limit on uncompressed bytes across all layers (stops decompression bombs).</summary>
    public long MaxUnpackedBytes { get; init; } = DefaultMaxUnpackedBytes;

    /// <summary>How many layers are fetched and read at once.</summary>
    public int Jobs { get; init; } = DefaultJobs;

    /// <summary>
    /// The most compressed bytes of layers read ahead of the one being applied; their contents wait
    /// on disk, so this bounds the extra disk an export uses. The next layer to apply always proceeds.
    /// </summary>
    public long MaxBytesInFlight { get; init; } = DefaultMaxBytesInFlight;

    /// <summary>The default <see cref="Jobs"/> (<c>--jobs</c>): 4. A format that places content in arrival order (<see cref="OutputFormat.NeedsContentInOrder"/>, ext4) reads at most as many layers at once as there are cores: a layer read ahead of its turn goes into the <see cref="Cache"/> or the writer's spool, and is placed from there in order, so the output is the same bytes whatever the setting.</summary>
    public const int DefaultJobs = 4;
    /// <summary>The default <see cref="MaxBytesInFlight"/> (<c>--max-in-flight</c>): 2 GiB.</summary>
    public const long DefaultMaxBytesInFlight = 2L << 30;
    /// <summary>The default <see cref="MaxUnpackedBytes"/> (<c>--max-unpacked-bytes</c>): 64 GiB.</summary>
    public const long DefaultMaxUnpackedBytes = 64L << 30;

    /// <summary>The format written: <see cref="Format"/>, or the one the output's name implies.</summary>
    public OutputFormat ResolvedFormat => Format ?? (FormatOptions is { } given ? OutputFormat.ForOptions(given) : OutputFormat.ForOutput(Output));

    internal OwnershipMode ResolvedOwnership => Ownership ?? (Environment.IsPrivilegedProcess ? OwnershipMode.Preserve : OwnershipMode.Rootless);
}

/// <summary>What an export produced.</summary>
public sealed record ExportResult(ResolvedImage Image, Writers.WriteSummary Summary, long UncompressedBytes, TimeSpan Elapsed)
{
    /// <summary>What the layer cache did (without a cache: every layer converted, nothing from the cache).</summary>
    public Cache.CacheStatistics Cache { get; init; } = new();

    /// <summary>
    /// Set when the export succeeded but could not clean up after itself: the previous contents of
    /// a replaced output directory could not be removed (the message says where they are).
    /// </summary>
    public Model.DecantException? CleanupFailure { get; init; }
}
