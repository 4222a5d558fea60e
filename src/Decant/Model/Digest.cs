using System.Security.Cryptography;

namespace Decant.Model;

/// <summary>A content digest such as <c>sha256:…</c>. Only sha256 and sha512 are accepted.</summary>
public readonly record struct Digest
{
    private Digest(string algorithm, string hex)
    {
        Algorithm = algorithm;
        Hex = hex;
    }

    /// <summary>The algorithm name before the colon: <c>sha256</c> or <c>sha512</c>.</summary>
    public string Algorithm { get; }
    /// <summary>The hash in lowercase hex: 64 characters for sha256, 128 for sha512.</summary>
    public string Hex { get; }

    /// <summary>The digest as <c>algorithm:hex</c>, the form manifests and blob paths use.</summary>
    public override string ToString() => Algorithm + ":" + Hex;

    /// <summary>Parses <c>sha256:&lt;64 hex&gt;</c> or <c>sha512:&lt;128 hex&gt;</c> (lowercase hex only).</summary>
    /// <exception cref="DecantException">The value is malformed (<see cref="DecantErrorKind.InvalidManifest"/>).</exception>
    public static Digest Parse(string value)
    {
        if (!TryParse(value, out var digest))
        {
            throw new DecantException(DecantErrorKind.InvalidManifest, $"invalid digest \"{value}\" (expected sha256:<64 hex> or sha512:<128 hex>)");
        }
        return digest;
    }

    /// <summary>Parses like <see cref="Parse"/> without throwing.</summary>
    /// <returns>False, with <paramref name="digest"/> default, when <paramref name="value"/> is null or malformed.</returns>
    public static bool TryParse(string? value, out Digest digest)
    {
        digest = default;
        if (value is null)
        {
            return false;
        }
        int colon = value.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0)
        {
            return false;
        }
        string algorithm = value[..colon];
        string hex = value[(colon + 1)..];
        int expectedLength = algorithm switch { "sha256" => 64, "sha512" => 128, _ => -1 };
        if (hex.Length != expectedLength || !hex.All(c => char.IsAsciiDigit(c) || c is >= 'a' and <= 'f'))
        {
            return false;
        }
        digest = new Digest(algorithm, hex);
        return true;
    }

    /// <summary>Creates an incremental hash of this digest's algorithm.</summary>
    public IncrementalHash CreateHash() => IncrementalHash.CreateHash(Algorithm == "sha512" ? HashAlgorithmName.SHA512 : HashAlgorithmName.SHA256);

    /// <summary>The sha256 digest of the given bytes.</summary>
    public static Digest Sha256Of(ReadOnlySpan<byte> data) => new("sha256", Convert.ToHexStringLower(SHA256.HashData(data)));

    /// <summary>Builds a digest from an algorithm name and a finished hash.</summary>
    public static Digest FromHash(string algorithm, ReadOnlySpan<byte> hash) => new(algorithm, Convert.ToHexStringLower(hash));

    /// <summary>Whether <paramref name="data"/> hashes to this digest.</summary>
    public bool Matches(ReadOnlySpan<byte> data)
    {
        using var hash = CreateHash();
        hash.AppendData(data);
        return Convert.ToHexStringLower(hash.GetCurrentHash()) == Hex;
    }
}
