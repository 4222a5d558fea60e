using System.Security.Cryptography;
using Decant.Model;
using Microsoft.Win32.SafeHandles;

namespace Decant.Writers.Verity;

/// <summary>
/// Appends a dm-verity hash tree to a finished disk image, as <c>veritysetup format IMAGE IMAGE
/// --hash-offset N</c> would: the image is padded to a whole 4096-byte block (the hash offset), the
/// verity superblock takes the next block and the tree's levels follow. The one call a disk-image
/// writer makes, after its filesystem is complete and before its output is published.
/// </summary>
internal static class DiskImageVerity
{
    /// <summary>
    /// Pads <paramref name="image"/> to a block boundary after its first
    /// <paramref name="filesystemBytes"/> bytes (anything past them is cut off), hashes those blocks
    /// and appends the superblock and tree there.
    /// </summary>
    /// <param name="image">The image, open for reading and writing.</param>
    /// <param name="filesystemBytes">The filesystem's size: what the tree covers.</param>
    /// <param name="options">The salt and algorithm.</param>
    /// <param name="seed">The image's identity (the writer's seed, e.g. the manifest digest), which the derived salt and the superblock's UUID come from.</param>
    /// <param name="known">The digests of the blocks already hashed (<see cref="StartDataDigests"/>, with the same options and seed), finished here; null when there are none.</param>
    /// <param name="cancellationToken">Stops the hashing.</param>
    /// <exception cref="DecantException">The options are invalid, or the filesystem is empty.</exception>
    public static async Task<VerityResult> AppendAsync(SafeFileHandle image, long filesystemBytes, VerityOptions options, ReadOnlyMemory<byte> seed, VerityDataDigests? known, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Check();
        if (filesystemBytes <= 0)
        {
            throw new DecantException(DecantErrorKind.OutputError, "an empty image has nothing for a dm-verity tree to cover");
        }
        const int BlockSize = VerityTree.BlockSize;
        var (algorithm, salt) = Parameters(options, seed.Span);
        long hashOffset = (filesystemBytes + BlockSize - 1) / BlockSize * BlockSize;
        long dataBlocks = hashOffset / BlockSize;
        if (known is not null)
        {
            await known.FinishAsync(cancellationToken).ConfigureAwait(false);
        }
        RandomAccess.SetLength(image, hashOffset);
        byte[] rootHash = await VerityTree.WriteAsync(image, dataBlocks, hashOffset + BlockSize, algorithm, salt, known, cancellationToken).ConfigureAwait(false);

        byte[] superblock = new byte[BlockSize];
        VeritySuperblock.Encode(superblock, DeriveUuid(seed.Span, salt), algorithm, BlockSize, BlockSize, dataBlocks, salt);
        await RandomAccess.WriteAsync(image, superblock, hashOffset, cancellationToken).ConfigureAwait(false);
        return new VerityResult
        {
            RootHash = Convert.ToHexStringLower(rootHash),
            HashOffset = hashOffset,
            Salt = Convert.ToHexStringLower(salt),
            Algorithm = algorithm.Name,
            DataBlockSize = BlockSize,
            HashBlockSize = BlockSize,
            DataBlocks = dataBlocks,
        };
    }

    /// <summary>
    /// Starts hashing the blocks of <paramref name="image"/> that its writer's store hands over as
    /// final (<see cref="VerityDataDigests.Add"/>), behind the writing; <see cref="AppendAsync"/>
    /// then hashes only the blocks left. Spools the digests in <paramref name="spoolDirectory"/>.
    /// </summary>
    public static VerityDataDigests StartDataDigests(SafeFileHandle image, VerityOptions options, ReadOnlyMemory<byte> seed, string spoolDirectory)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Check();
        var (algorithm, salt) = Parameters(options, seed.Span);
        return new VerityDataDigests(image, algorithm, salt, spoolDirectory);
    }

    /// <summary>The tree's algorithm and salt: the options', or the salt derived from the seed.</summary>
    private static (VerityAlgorithm Algorithm, byte[] Salt) Parameters(VerityOptions options, ReadOnlySpan<byte> seed) =>
        (VerityAlgorithm.FromName(options.Algorithm), options.Salt is { } given ? [.. given] : DeriveSalt(seed));

    /// <summary>The salt of an image whose options give none: 32 bytes (veritysetup's default size) from its seed.</summary>
    internal static byte[] DeriveSalt(ReadOnlySpan<byte> seed) => SHA256.HashData([.. "decant verity salt\0"u8, .. seed]);

    /// <summary>The superblock's UUID, from the seed and the salt (RFC 4122 variant, version 5 bits).</summary>
    internal static byte[] DeriveUuid(ReadOnlySpan<byte> seed, ReadOnlySpan<byte> salt) =>
        DerivedUuid.From([.. "decant verity uuid\0"u8, .. seed, .. salt]);
}
