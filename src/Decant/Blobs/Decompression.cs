using System.IO.Compression;
using Decant.Model;

namespace Decant.Blobs;

/// <summary>How a layer blob is compressed, as detected from its first bytes.</summary>
internal enum LayerCompression
{
    /// <summary>No recognised compression: the blob is read as a plain tar.</summary>
    None,
    /// <summary>gzip (RFC 1952), possibly several concatenated members.</summary>
    Gzip,
    /// <summary>Zstandard, possibly several frames and skippable frames.</summary>
    Zstd,
    /// <summary>bzip2: recognised so it can be refused by name (OCI layers are never bzip2).</summary>
    Bzip2,
    /// <summary>xz: recognised so it can be refused by name (OCI layers are never xz).</summary>
    Xz,
}

/// <summary>
/// Opens the decompressed view of a layer blob. The compression is detected from the magic bytes
/// at the start of the blob, never from the media type, and the source need not be seekable. This
/// is the one compression detector: the archive sources use it too.
/// </summary>
internal static class Decompression
{
    /// <summary>The buffer size used on both sides of a decoder.</summary>
    internal const int BufferSize = 128 * 1024;

    /// <summary>How many leading bytes <see cref="Detect"/> needs to decide.</summary>
    public const int MagicLength = 6;

    /// <summary>
    /// Detects the compression of a blob from its first bytes (up to <see cref="MagicLength"/>;
    /// fewer only when the blob itself is shorter).
    /// </summary>
    public static LayerCompression Detect(ReadOnlySpan<byte> prefix)
    {
        if (prefix.Length >= 3 && prefix[0] == 0x1F && prefix[1] == 0x8B && prefix[2] == 0x08)
        {
            return LayerCompression.Gzip;
        }
        if (prefix.Length >= 4 && prefix[1] == 0xB5 && prefix[2] == 0x2F && prefix[3] == 0xFD && prefix[0] == 0x28)
        {
            return LayerCompression.Zstd;
        }
        // A zstd skippable frame: magic 0x184D2A50..0x184D2A5F, little-endian.
        if (prefix.Length >= 4 && (prefix[0] & 0xF0) == 0x50 && prefix[1] == 0x2A && prefix[2] == 0x4D && prefix[3] == 0x18)
        {
            return LayerCompression.Zstd;
        }
        return prefix switch
        {
            [0x42, 0x5A, 0x68, ..] => LayerCompression.Bzip2,
            [0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00, ..] => LayerCompression.Xz,
            _ => LayerCompression.None,
        };
    }

    /// <summary>
    /// Peeks at the start of <paramref name="compressed"/> and returns a stream of its decompressed
    /// content. The returned stream owns <paramref name="compressed"/> and disposes it.
    /// </summary>
    public static Task<DecompressingStream> OpenAsync(Stream compressed, CancellationToken cancellationToken) =>
        OpenAsync(compressed, leaveOpen: false, cancellationToken);

    /// <summary>
    /// Peeks at the start of <paramref name="compressed"/> and returns a stream of its decompressed
    /// content. Corrupt or truncated compressed data surfaces from the returned stream's reads as a
    /// <see cref="DecantException"/> of kind <see cref="DecantErrorKind.InvalidLayer"/>.
    /// </summary>
    public static Task<DecompressingStream> OpenAsync(Stream compressed, bool leaveOpen, CancellationToken cancellationToken) =>
        OpenAsync(compressed, leaveOpen, IsalGzipStream.Decoder is not null, cancellationToken);

    /// <summary>As <see cref="OpenAsync(Stream, bool, CancellationToken)"/>, inflating gzip with ISA-L (which must then be available) or with .NET's decoder.</summary>
    internal static async Task<DecompressingStream> OpenAsync(Stream compressed, bool leaveOpen, bool inflateWithIsal, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(compressed);
        byte[] magic = new byte[MagicLength];
        int peeked = 0;
        while (peeked < magic.Length)
        {
            int read = await compressed.ReadAsync(magic.AsMemory(peeked), cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                break;
            }
            peeked += read;
        }
        var prefix = magic.AsMemory(0, peeked);
        var kind = Detect(prefix.Span);
        return kind switch
        {
            LayerCompression.Gzip when inflateWithIsal => DecompressingStream.ForIsalGzip(new IsalGzipStream(
                IsalGzipStream.Decoder ?? throw new InvalidOperationException("ISA-L is not available"),
                new DecompressPrefixStream(prefix, compressed, ReadOnlyMemory<byte>.Empty, leaveOpen))),
            LayerCompression.Gzip => DecompressingStream.ForGzip(
                new DecompressPrefixStream(prefix, compressed, DecompressGzipEndCheck.SentinelMember, leaveOpen, BufferSize)),
            LayerCompression.Zstd => DecompressingStream.ForZstd(new ZstdSharp.DecompressionStream(
                new DecompressPrefixStream(prefix, compressed, ReadOnlyMemory<byte>.Empty, leaveOpen),
                BufferSize, checkEndOfStream: true, leaveOpen: false)),
            LayerCompression.None => DecompressingStream.ForUncompressed(new DecompressPrefixStream(prefix, compressed, ReadOnlyMemory<byte>.Empty, leaveOpen)),
            _ => throw new DecantException(DecantErrorKind.InvalidLayer, $"the blob is {NameOf(kind)}-compressed, which OCI layers cannot be (only gzip and zstd)"),
        };
    }

    /// <summary>The compression's name as tools spell it (<c>gzip</c>, <c>zstd</c>, <c>bzip2</c>, <c>xz</c>).</summary>
    public static string NameOf(LayerCompression compression) => compression switch
    {
        LayerCompression.Gzip => "gzip",
        LayerCompression.Zstd => "zstd",
        LayerCompression.Bzip2 => "bzip2",
        LayerCompression.Xz => "xz",
        _ => "uncompressed",
    };

    internal static GZipStream CreateGzipDecoder(Stream source) => new(source, CompressionMode.Decompress, leaveOpen: false);
}
