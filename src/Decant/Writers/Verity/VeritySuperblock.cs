using System.Buffers.Binary;
using System.Text;

namespace Decant.Writers.Verity;

/// <summary>
/// The 512-byte verity superblock (cryptsetup's <c>struct verity_sb</c>, little-endian) that starts
/// the hash area, alone in its hash block: the tree's levels start in the next block.
/// </summary>
internal static class VeritySuperblock
{
    /// <summary>The superblock's size on disk.</summary>
    public const int Size = 512;

    private const int FormatVersion = 1;
    /// <summary>Hash type 1: the salt goes before each block's bytes (type 0, Chrome OS's, puts it after).</summary>
    public const int HashType = 1;
    private const int UuidOffset = 16, AlgorithmOffset = 32, AlgorithmBytes = 32, DataBlockSizeOffset = 64,
        HashBlockSizeOffset = 68, DataBlocksOffset = 72, SaltSizeOffset = 80, SaltOffset = 88;

    /// <summary>Encodes the superblock into the first <see cref="Size"/> bytes of <paramref name="block"/>, which must be zeros.</summary>
    public static void Encode(Span<byte> block, ReadOnlySpan<byte> uuid, VerityAlgorithm algorithm, int dataBlockSize, int hashBlockSize, long dataBlocks, ReadOnlySpan<byte> salt)
    {
        "verity\0\0"u8.CopyTo(block);
        BinaryPrimitives.WriteUInt32LittleEndian(block[8..], FormatVersion);
        BinaryPrimitives.WriteUInt32LittleEndian(block[12..], HashType);
        uuid.CopyTo(block[UuidOffset..]);
        Encoding.ASCII.GetBytes(algorithm.Name, block.Slice(AlgorithmOffset, AlgorithmBytes - 1));
        BinaryPrimitives.WriteUInt32LittleEndian(block[DataBlockSizeOffset..], (uint)dataBlockSize);
        BinaryPrimitives.WriteUInt32LittleEndian(block[HashBlockSizeOffset..], (uint)hashBlockSize);
        BinaryPrimitives.WriteUInt64LittleEndian(block[DataBlocksOffset..], (ulong)dataBlocks);
        BinaryPrimitives.WriteUInt16LittleEndian(block[SaltSizeOffset..], (ushort)salt.Length);
        salt.CopyTo(block[SaltOffset..]);
    }
}
