using Decant.Model;

namespace Decant.Writers.Verity;

/// <summary>
/// A dm-verity hash tree appended to a disk image (<see cref="Ext4.Ext4WriterOptions.Verity"/>), in
/// the format <c>veritysetup format</c> writes: superblock version 1, hash type 1 (the salt before
/// each block), 4096-byte data and hash blocks, the tree right after the filesystem.
/// </summary>
public sealed record VerityOptions
{
    /// <summary>The salt (at most 256 bytes; empty allowed). Null derives 32 bytes from the image's seed, so the same image gives the same bytes.</summary>
    public IReadOnlyList<byte>? Salt { get; init; }

    /// <summary>The hash algorithm, as the kernel names it: <c>sha256</c> (the default) or <c>sha512</c>.</summary>
    public string Algorithm { get; init; } = DefaultAlgorithm;

    /// <summary>The default <see cref="Algorithm"/>, as <c>veritysetup format</c>'s.</summary>
    public const string DefaultAlgorithm = "sha256";

    /// <summary>The largest salt the verity superblock holds, in bytes.</summary>
    public const int MaxSaltBytes = 256;

    /// <summary>Throws unless the salt fits the superblock and the algorithm is one Decant computes.</summary>
    /// <exception cref="DecantException">The salt is longer than <see cref="MaxSaltBytes"/>, or the algorithm is not sha256 or sha512.</exception>
    internal void Check()
    {
        if (Salt is { Count: > MaxSaltBytes } salt)
        {
            throw new DecantException(DecantErrorKind.Usage, $"a dm-verity salt of {salt.Count} bytes is too long; the superblock holds at most {MaxSaltBytes}");
        }
        _ = VerityAlgorithm.FromName(Algorithm);
    }
}
