using static Decant.Writers.LittleEndian;

namespace Decant.Writers.Ext4;

/// <summary>
/// Builds an inode's extent tree: up to four extents live in i_block; more go into leaf blocks of
/// 340 entries, indexed from i_block, with further index levels as needed (depth > 1 for very
/// fragmented files). Every tree block ends with its checksum.
/// </summary>
internal static class ExtentTree
{
    private const int HeaderSize = 12;
    private const int EntrySize = 12;

    /// <summary>How many tree blocks <paramref name="extents"/> extents need beyond i_block.</summary>
    public static int BlocksNeeded(int extents)
    {
        int total = 0;
        int level = extents;
        while (level > Ext4Constants.ExtentsInInode)
        {
            level = (level + Ext4Constants.ExtentsPerBlock - 1) / Ext4Constants.ExtentsPerBlock;
            total += level;
        }
        return total;
    }

    /// <summary>
    /// Fills the 60-byte <paramref name="iblock"/> and returns the tree blocks to write, placed at
    /// <paramref name="treeBlocks"/> (exactly <see cref="BlocksNeeded"/> of them, in any order).
    /// </summary>
    public static List<(long Block, byte[] Data)> Build(IReadOnlyList<FileExtent> extents, IReadOnlyList<long> treeBlocks, uint inodeSeed, Span<byte> iblock)
    {
        var written = new List<(long, byte[])>();
        // Each level as (first logical block, on-disk entry); leaves first.
        var level = new List<(uint Logical, long Target, int Length)>(extents.Count);
        foreach (var extent in extents)
        {
            level.Add((extent.Logical, extent.Physical, extent.Length));
        }
        int depth = 0;
        int nextTreeBlock = 0;
        while (level.Count > Ext4Constants.ExtentsInInode)
        {
            var parents = new List<(uint, long, int)>();
            for (int start = 0; start < level.Count; start += Ext4Constants.ExtentsPerBlock)
            {
                int count = Math.Min(Ext4Constants.ExtentsPerBlock, level.Count - start);
                long block = treeBlocks[nextTreeBlock++];
                byte[] data = new byte[Ext4Constants.BlockSize];
                WriteNode(data, level, start, count, Ext4Constants.ExtentsPerBlock, depth);
                int tail = HeaderSize + EntrySize * Ext4Constants.ExtentsPerBlock;
                Put32(data, tail, Crc32C.Append(inodeSeed, data.AsSpan(0, tail)));
                written.Add((block, data));
                parents.Add((level[start].Logical, block, 0));
            }
            level = parents;
            depth++;
        }
        iblock[..60].Clear();
        WriteNode(iblock, level, 0, level.Count, Ext4Constants.ExtentsInInode, depth);
        return written;
    }

    private static void WriteNode(Span<byte> node, List<(uint Logical, long Target, int Length)> entries, int start, int count, int max, int depth)
    {
        Put16(node, 0, Ext4Constants.ExtentMagic);
        Put16(node, 2, count);
        Put16(node, 4, max);
        Put16(node, 6, depth);
        Put32(node, 8, 0);
        for (int i = 0; i < count; i++)
        {
            var (logical, target, length) = entries[start + i];
            int at = HeaderSize + i * EntrySize;
            Put32(node, at, logical);
            if (depth == 0)
            {
                Put16(node, at + 4, length);
                Put16(node, at + 6, (int)(target >> 32));
                Put32(node, at + 8, (uint)target);
            }
            else
            {
                Put32(node, at + 4, (uint)target);
                Put16(node, at + 8, (int)(target >> 32));
                Put16(node, at + 10, 0);
            }
        }
    }
}
