using Decant.Manifests;
using Decant.Sources;
using Decant.Semantics;
using Decant.Writers;

namespace Decant.Export;

/// <summary>The output formats Decant writes.</summary>
public enum OutputFormat
{
    /// <summary>A root filesystem directory.</summary>
    Directory,
    /// <summary>One flattened tar of the root filesystem.</summary>
    Tar,
    /// <summary>A ready-to-mount ext4 filesystem image.</summary>
    Ext4,
}

/// <summary>Everything an export needs besides the image reference.</summary>
public sealed record ExportOptions
{
    /// <summary>The output path: a directory, a tar or ext4 file, or "-" for a tar on standard output. Missing parent directories are created.</summary>
    public required string Output { get; init; }

    /// <summary>The format; when null it follows from the output (".tar" or "-" mean a tar, ".ext4" or ".img" an ext4 image, anything else a directory).</summary>
    public OutputFormat? Format { get; init; }

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

    /// <summary>The limit on uncompressed bytes across all layers (stops decompression bombs).</summary>
    public long MaxUnpackedBytes { get; init; } = DefaultMaxUnpackedBytes;

    /// <summary>How many layers are fetched and read at once.</summary>
    public int Jobs { get; init; } = DefaultJobs;

    /// <summary>
    /// The most compressed bytes of layers read ahead of the one being applied; their contents wait
    /// on disk, so this bounds the extra disk an export uses. The next layer to apply always proceeds.
    /// </summary>
    public long MaxBytesInFlight { get; init; } = DefaultMaxBytesInFlight;

    /// <summary>The default <see cref="Jobs"/> (<c>--jobs</c>): 4. Ext4 exports read one layer at a time whatever the setting.</summary>
    public const int DefaultJobs = 4;
    /// <summary>The default <see cref="MaxBytesInFlight"/> (<c>--max-in-flight</c>): 2 GiB.</summary>
    public const long DefaultMaxBytesInFlight = 2L << 30;
    /// <summary>The default <see cref="MaxUnpackedBytes"/> (<c>--max-unpacked-bytes</c>): 64 GiB.</summary>
    public const long DefaultMaxUnpackedBytes = 64L << 30;

    /// <summary>For ext4: the image size; null means the smallest that fits plus the free space and inodes below.</summary>
    public long? Ext4Size { get; init; }

    /// <summary>For ext4: free space left in an automatically sized image, so a guest can write.</summary>
    public long Ext4FreeSpaceBytes { get; init; } = Writers.Ext4.Ext4WriterOptions.DefaultFreeSpaceBytes;

    /// <summary>For ext4: free inodes left in the image.</summary>
    public long Ext4FreeInodes { get; init; } = Writers.Ext4.Ext4WriterOptions.DefaultFreeInodes;

    /// <summary>For ext4: write a JBD2 journal.</summary>
    public bool Ext4Journal { get; init; } = true;

    /// <summary>The format written: <see cref="Format"/>, or the one the output's name implies.</summary>
    public OutputFormat ResolvedFormat => Format ?? (
        Output == "-" || Output.EndsWith(".tar", StringComparison.OrdinalIgnoreCase) ? OutputFormat.Tar
        : Output.EndsWith(".ext4", StringComparison.OrdinalIgnoreCase) || Output.EndsWith(".img", StringComparison.OrdinalIgnoreCase) ? OutputFormat.Ext4
        : OutputFormat.Directory);

    internal OwnershipMode ResolvedOwnership => Ownership ?? (Environment.IsPrivilegedProcess ? OwnershipMode.Preserve : OwnershipMode.Rootless);
}

/// <summary>What an export produced.</summary>
public sealed record ExportResult(ResolvedImage Image, Writers.WriteSummary Summary, long UncompressedBytes, TimeSpan Elapsed)
{
    /// <summary>
    /// Set when the export succeeded but could not clean up after itself: the previous contents of
    /// a replaced output directory could not be removed (the message says where they are).
    /// </summary>
    public Model.DecantException? CleanupFailure { get; init; }
}
