using System.Buffers.Binary;
using System.Numerics;

namespace Decant.Writers;

/// <summary>
/// CRC32C as ext4, jbd2 and EROFS use it: the running value is passed in and returned without the usual
/// pre- and post-inversion, so <c>Append(~0u, data)</c> is the bitwise complement of the standard CRC32C.
/// </summary>
internal static class Crc32C
{
    public static uint Append(uint crc, ReadOnlySpan<byte> data)
    {
        while (data.Length >= 8)
        {
            crc = BitOperations.Crc32C(crc, BinaryPrimitives.ReadUInt64LittleEndian(data));
            data = data[8..];
        }
        foreach (byte value in data)
        {
            crc = BitOperations.Crc32C(crc, value);
        }
        return crc;
    }

    public static uint Append(uint crc, uint littleEndianValue)
    {
        return BitOperations.Crc32C(crc, littleEndianValue);
    }

    /// <summary>The per-inode seed of ext4's metadata checksums: the filesystem seed, the inode number and its generation.</summary>
    public static uint InodeSeed(uint filesystemSeed, uint inodeNumber, uint generation = 0) =>
        Append(Append(filesystemSeed, inodeNumber), generation);
}
