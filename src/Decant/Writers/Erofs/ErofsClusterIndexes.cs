using static Decant.Writers.LittleEndian;

namespace Decant.Writers.Erofs;

/// <summary>
/// The full (non-compact) logical cluster indexes of a compressed file (layout 1), with one-block
/// logical clusters: after the inode and its xattrs, aligned to 8 bytes, the 8-byte map header,
/// 8 reserved bytes, then one 8-byte index per logical cluster. A compressed physical cluster's
/// first logical cluster is a HEAD (its block address); the next one carries the cluster's block
/// count (CBLKCNT, big pclusters); the others say how far back their head is and how far the next
/// one. A cluster stored as it is has a PLAIN index for each of its blocks.
/// </summary>
internal static class ErofsClusterIndexes
{
    public const int MapHeaderSize = 8;
    public const int IndexSize = 8;
    private const int AdviseBigPcluster1 = 0x2;
    private const int TypePlain = 0;
    private const int TypeHead1 = 1;
    private const int TypeNonHead = 2;
    private const int CompressedBlockCount = 1 << 11;

    /// <summary>Bytes after an inode head of <paramref name="headSize"/> bytes (at an 8-aligned position): padding, header, reserved, indexes.</summary>
    public static long Size(int headSize, long lclusters) => ((8 - headSize % 8) % 8) + MapHeaderSize + 8 + lclusters * IndexSize;

    /// <summary>The padding, the map header (LZ4, one-block logical clusters, big pclusters) and the reserved bytes.</summary>
    public static byte[] Prologue(int headSize)
    {
        byte[] prologue = new byte[((8 - headSize % 8) % 8) + MapHeaderSize + 8];
        Put16(prologue, prologue.Length - 16 + 4, AdviseBigPcluster1);
        return prologue;
    }

    /// <summary>Writes the indexes of one physical cluster (stored from block <paramref name="physical"/>) into <paramref name="destination"/>.</summary>
    public static void Encode(ErofsPcluster cluster, long physical, Span<byte> destination)
    {
        for (int i = 0; i < cluster.Lclusters; i++)
        {
            var index = destination.Slice(i * IndexSize, IndexSize);
            index.Clear();
            if (!cluster.Compressed)
            {
                Put16(index, 0, TypePlain);
                Put32(index, 4, (uint)(physical + i));
            }
            else if (i == 0)
            {
                Put16(index, 0, TypeHead1);
                Put32(index, 4, (uint)physical);
            }
            else
            {
                Put16(index, 0, TypeNonHead);
                Put16(index, 4, i == 1 ? CompressedBlockCount | cluster.Blocks : i);
                Put16(index, 6, cluster.Lclusters - i);
            }
        }
    }
}
