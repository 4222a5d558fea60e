using System.Security.Cryptography;

namespace Decant.Writers;

/// <summary>Filesystem UUIDs derived from seed bytes (the manifest digest), so the same image gives the same filesystem.</summary>
internal static class DeterministicUuid
{
    /// <summary>The first 16 bytes of SHA-256 over <paramref name="label"/> and the seed, marked as an RFC 4122 version 5 UUID.</summary>
    public static byte[] Derive(ReadOnlySpan<byte> label, IReadOnlyList<byte> seed)
    {
        byte[] uuid = SHA256.HashData([.. label, .. seed])[..16];
        uuid[6] = (byte)((uuid[6] & 0x0F) | 0x50);
        uuid[8] = (byte)((uuid[8] & 0x3F) | 0x80);
        return uuid;
    }
}
