using System.Security.Cryptography;
using Decant.Model;

namespace Decant.Writers.Verity;

/// <summary>A hash algorithm of a dm-verity tree: its kernel name and digest size.</summary>
internal sealed record VerityAlgorithm(string Name, HashAlgorithmName Hash, int DigestBytes)
{
    public static readonly VerityAlgorithm Sha256 = new("sha256", HashAlgorithmName.SHA256, SHA256.HashSizeInBytes);
    public static readonly VerityAlgorithm Sha512 = new("sha512", HashAlgorithmName.SHA512, SHA512.HashSizeInBytes);

    /// <summary>The algorithm the kernel calls <paramref name="name"/> (case-insensitive, as veritysetup lowers it).</summary>
    /// <exception cref="DecantException">Decant does not compute that algorithm.</exception>
    public static VerityAlgorithm FromName(string name) => name.ToLowerInvariant() switch
    {
        "sha256" => Sha256,
        "sha512" => Sha512,
        _ => throw new DecantException(DecantErrorKind.Usage, $"dm-verity hash algorithm \"{name}\" is not supported; use sha256 or sha512"),
    };

    /// <summary>
    /// The space each digest takes in a hash block: the digest size rounded up to a power of two
    /// (format version 1), the rest zeros.
    /// </summary>
    public int DigestStride => (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)DigestBytes);

    /// <summary>How many digests a hash block of <paramref name="blockSize"/> bytes holds: the largest power of two that fits.</summary>
    public int HashesPerBlock(int blockSize) => 1 << System.Numerics.BitOperations.Log2((uint)(blockSize / DigestBytes));
}
