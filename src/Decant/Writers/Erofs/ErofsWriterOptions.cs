using Decant.Writers.Verity;

namespace Decant.Writers.Erofs;

/// <summary>How <see cref="ErofsWriter"/> writes an EROFS filesystem image to the file <see cref="WriterOptions.Output"/>.</summary>
public sealed record ErofsWriterOptions : WriterOptions
{
    /// <summary>
    /// Bytes the filesystem UUID is derived from (e.g. the image's manifest digest), so the same input
    /// always gives the same image. Empty means a fixed default (an export sets the manifest digest).
    /// </summary>
    public IReadOnlyList<byte> Seed { get; init; } = [];

    /// <summary>How file data is compressed; none by default. A file (or a physical cluster) that does not shrink is stored uncompressed.</summary>
    public ErofsCompression Compression { get; init; } = ErofsCompression.None;

    /// <summary>
    /// With compression, how many bytes of a file are compressed together into one physical cluster
    /// (a multiple of 4 KiB, from 8 KiB to 1 MiB): larger compresses better, smaller reads less to get one block.
    /// </summary>
    public int PhysicalClusterSize { get; init; } = DefaultPhysicalClusterSize;

    /// <summary>
    /// When set, a dm-verity hash tree follows the filesystem (version 1, 4096-byte data and hash
    /// blocks), as <c>veritysetup format</c> writes it; <see cref="WriteSummary.Verity"/> gives the
    /// root hash, hash offset and salt. Null (the default) writes none.
    /// </summary>
    public VerityOptions? Verity { get; init; }

    /// <summary>The default <see cref="PhysicalClusterSize"/>: 64 KiB (the CLI's <c>--erofs-pcluster-size</c>).</summary>
    public const int DefaultPhysicalClusterSize = 64 << 10;

    /// <summary>The largest <see cref="PhysicalClusterSize"/> the kernel reads: 1 MiB.</summary>
    public const int MaxPhysicalClusterSize = 1 << 20;
}

/// <summary>How an EROFS image compresses file data.</summary>
public enum ErofsCompression
{
    /// <summary>Stored as it is.</summary>
    None,
    /// <summary>LZ4, fast (the kernel decompresses it).</summary>
    Lz4,
    /// <summary>LZ4 with the high-compression encoder (level 9): slower to write, smaller, read as fast as <see cref="Lz4"/>.</summary>
    Lz4HC,
}
