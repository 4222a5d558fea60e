using System.Security.Cryptography;

namespace Decant.Writers;

/// <summary>A UUID derived from bytes (a seed and a domain string), so the same input gives the same output.</summary>
internal static class DerivedUuid
{
    /// <summary>The first 16 bytes of SHA-256(<paramref name="material"/>), with the RFC 4122 variant and version 5 bits set.</summary>
    public static byte[] From(ReadOnlySpan<byte> material)
    {
        byte[] uuid = SHA256.HashData(material)[..16];
        uuid[6] = (byte)((uuid[6] & 0x0F) | 0x50);
        uuid[8] = (byte)((uuid[8] & 0x3F) | 0x80);
        return uuid;
    }
}
