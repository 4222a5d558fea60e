using Decant.Manifests;

namespace Decant.Sources.Archive;

/// <summary>Recognizes compressed data by its first bytes (gzip, zstd, bzip2, xz).</summary>
internal static class LayerCompression
{
    /// <summary>How many leading bytes <see cref="Detect"/> needs.</summary>
    public const int MagicLength = 6;

    public const string Gzip = "gzip";
    public const string Zstd = "zstd";

    /// <summary>The compression format the data starts with, or null for uncompressed data.</summary>
    public static string? Detect(ReadOnlySpan<byte> head) => head switch
    {
        [0x1F, 0x8B, 0x08, ..] => Gzip,
        [0x28, 0xB5, 0x2F, 0xFD, ..] => Zstd,
        [0x42, 0x5A, 0x68, ..] => "bzip2",
        [0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00, ..] => "xz",
        _ => null,
    };

    /// <summary>The OCI layer media type for data compressed as <paramref name="compression"/>, or null if OCI has none.</summary>
    public static string? OciLayerMediaType(string? compression) => compression switch
    {
        null => MediaTypes.OciLayer,
        Gzip => MediaTypes.OciLayerGzip,
        Zstd => MediaTypes.OciLayerZstd,
        _ => null,
    };
}
