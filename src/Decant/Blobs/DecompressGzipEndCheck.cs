using System.IO.Compression;

namespace Decant.Blobs;

/// <summary>
/// Detects a truncated gzip stream, which <see cref="GZipStream"/> silently reports as a normal end.
/// A small, known gzip member (the sentinel) is appended after the blob's last byte. When the blob
/// ends cleanly after a complete member, the decoder starts a new member and yields exactly
/// <see cref="SentinelContent"/> as the last bytes of output. When the blob is cut short, the
/// sentinel's bytes land inside the unfinished member and the decoder fails or never yields the
/// sentinel content. The reader holds back the last bytes of output to check them and never passes
/// the sentinel content on.
/// </summary>
internal static class DecompressGzipEndCheck
{
    /// <summary>The bytes the sentinel member decodes to; their exact value does not matter.</summary>
    public static ReadOnlyMemory<byte> SentinelContent { get; } = "\0decant:gzip-end\0"u8.ToArray();

    /// <summary>A complete gzip member whose content is <see cref="SentinelContent"/>.</summary>
    public static ReadOnlyMemory<byte> SentinelMember { get; } = Compress(SentinelContent.Span);

    private static byte[] Compress(ReadOnlySpan<byte> content)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.NoCompression, leaveOpen: true))
        {
            gzip.Write(content);
        }
        return output.ToArray();
    }
}
