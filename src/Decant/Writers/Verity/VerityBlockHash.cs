using System.Security.Cryptography;
using Decant.Interop;

namespace Decant.Writers.Verity;

/// <summary>
/// Format version 1's block hash (the salt, then the block) for one thread: through OpenSSL's
/// one-block functions where libcrypto has them and they agree with .NET on a known block
/// (<see cref="LibCrypto"/>), else through <see cref="IncrementalHash"/>.
/// </summary>
internal sealed class VerityBlockHash : IDisposable
{
    private static readonly Lazy<LibCrypto.Digest?> Sha256 = new(() => Checked(LibCrypto.Find("SHA256"), HashAlgorithmName.SHA256));
    private static readonly Lazy<LibCrypto.Digest?> Sha512 = new(() => Checked(LibCrypto.Find("SHA512"), HashAlgorithmName.SHA512));

    private readonly LibCrypto.Digest? _native;
    private readonly IncrementalHash? _managed;

    public VerityBlockHash(VerityAlgorithm algorithm)
    {
        _native = algorithm.Hash == HashAlgorithmName.SHA256 ? Sha256.Value : algorithm.Hash == HashAlgorithmName.SHA512 ? Sha512.Value : null;
        _managed = _native is null ? IncrementalHash.CreateHash(algorithm.Hash) : null;
    }

    /// <summary>Whether the hash goes through OpenSSL's one-block functions (else through <see cref="IncrementalHash"/>).</summary>
    internal bool IsNative => _native is not null;

    /// <summary>The digest of <paramref name="salt"/> then <paramref name="block"/>, into <paramref name="digest"/>.</summary>
    public void Hash(ReadOnlySpan<byte> salt, ReadOnlySpan<byte> block, Span<byte> digest)
    {
        if (_native is not null)
        {
            _native.Compute(salt, block, digest);
            return;
        }
        _managed!.AppendData(salt);
        _managed.AppendData(block);
        _managed.GetHashAndReset(digest);
    }

    /// <summary>The functions, if they give .NET's digest of a salted block.</summary>
    private static LibCrypto.Digest? Checked(LibCrypto.Digest? digest, HashAlgorithmName name)
    {
        if (digest is null)
        {
            return null;
        }
        byte[] salt = [.. Enumerable.Range(0, 32).Select(i => (byte)(i * 37))];
        byte[] block = [.. Enumerable.Range(0, VerityTree.BlockSize).Select(i => (byte)(i ^ (i >> 8)))];
        using var reference = IncrementalHash.CreateHash(name);
        reference.AppendData(salt);
        reference.AppendData(block);
        byte[] expected = reference.GetHashAndReset();
        byte[] actual = new byte[expected.Length];
        digest.Compute(salt, block, actual);
        return actual.AsSpan().SequenceEqual(expected) ? digest : null;
    }

    public void Dispose() => _managed?.Dispose();
}
