using Decant.Model;
using static Decant.Writers.LittleEndian;

namespace Decant.Writers.Ext4;

/// <summary>One name in a directory.</summary>
internal readonly record struct DirectoryEntry(byte[] Name, uint Inode, byte FileType);

/// <summary>
/// Lays out a directory's blocks. A directory that fits one block is linear; a larger one is an
/// htree (dir_index): a root block indexing leaf blocks by name hash, with one level of index
/// blocks between them when the root cannot index every leaf. Leaf blocks end with the checksum
/// tail, index blocks with the dx tail.
/// </summary>
internal static class DirectoryBlocks
{
    private const int BlockSize = Ext4Constants.BlockSize;
    private const int TailSize = 12;
    private const int LeafSpace = BlockSize - TailSize;
    private const int DotRecord = 12;
    private const int RootEntriesOffset = 32;
    private const int NodeEntriesOffset = 8;
    private const int DxTailSize = 8;
    private const int RootLimit = (BlockSize - RootEntriesOffset - DxTailSize) / 8;
    private const int NodeLimit = (BlockSize - NodeEntriesOffset - DxTailSize) / 8;

    public static int RecordLength(int nameLength) => (8 + nameLength + 3) & ~3;

    /// <summary>Builds every block of a directory, in logical order. <paramref name="indexed"/> says whether it is an htree.</summary>
    public static List<byte[]> Build(uint self, uint parent, IReadOnlyList<DirectoryEntry> entries, DirectoryHash hash, uint inodeSeed, out bool indexed)
    {
        int linearBytes = 2 * DotRecord;
        foreach (var entry in entries)
        {
            linearBytes += RecordLength(entry.Name.Length);
        }
        if (linearBytes <= LeafSpace)
        {
            indexed = false;
            return [BuildLinear(self, parent, entries, inodeSeed)];
        }
        indexed = true;
        return BuildIndexed(self, parent, entries, hash, inodeSeed);
    }

    /// <summary>An empty extra block for a directory (as lost+found keeps to have room without allocating).</summary>
    public static byte[] EmptyLeaf(uint inodeSeed)
    {
        byte[] block = new byte[BlockSize];
        Put16(block, 4, LeafSpace);
        SealLeaf(block, inodeSeed);
        return block;
    }

    private static byte[] BuildLinear(uint self, uint parent, IReadOnlyList<DirectoryEntry> entries, uint inodeSeed)
    {
        byte[] block = new byte[BlockSize];
        int at = WriteDots(block, self, parent, entries.Count == 0 ? LeafSpace - DotRecord : DotRecord);
        for (int i = 0; i < entries.Count; i++)
        {
            int length = i == entries.Count - 1 ? LeafSpace - at : RecordLength(entries[i].Name.Length);
            WriteEntry(block, at, entries[i], length);
            at += length;
        }
        SealLeaf(block, inodeSeed);
        return block;
    }

    private static int WriteDots(byte[] block, uint self, uint parent, int dotDotLength)
    {
        WriteEntry(block, 0, new DirectoryEntry("."u8.ToArray(), self, Ext4Constants.TypeDirectory), DotRecord);
        WriteEntry(block, DotRecord, new DirectoryEntry(".."u8.ToArray(), parent, Ext4Constants.TypeDirectory), dotDotLength);
        return 2 * DotRecord;
    }

    private static void WriteEntry(Span<byte> block, int at, DirectoryEntry entry, int recordLength)
    {
        Put32(block, at, entry.Inode);
        Put16(block, at + 4, recordLength);
        block[at + 6] = (byte)entry.Name.Length;
        block[at + 7] = entry.FileType;
        entry.Name.CopyTo(block[(at + 8)..]);
    }

    /// <summary>Writes the checksum tail: a fake entry (inode 0, length 12, type 0xDE) holding the crc of the block before it.</summary>
    private static void SealLeaf(byte[] block, uint inodeSeed)
    {
        Put32(block, LeafSpace, 0);
        Put16(block, LeafSpace + 4, TailSize);
        block[LeafSpace + 6] = 0;
        block[LeafSpace + 7] = 0xDE;
        Put32(block, LeafSpace + 8, Crc32C.Append(inodeSeed, block.AsSpan(0, LeafSpace)));
    }

    private static List<byte[]> BuildIndexed(uint self, uint parent, IReadOnlyList<DirectoryEntry> entries, DirectoryHash hash, uint inodeSeed)
    {
        var hashed = new (uint Hash, DirectoryEntry Entry)[entries.Count];
        for (int i = 0; i < entries.Count; i++)
        {
            hashed[i] = (hash.Hash(entries[i].Name), entries[i]);
        }
        Array.Sort(hashed, (a, b) => a.Hash != b.Hash ? a.Hash.CompareTo(b.Hash) : a.Entry.Name.AsSpan().SequenceCompareTo(b.Entry.Name));

        // Pack leaves full; each leaf's index key is its first hash, marked as a continuation
        // (low bit) when the previous leaf ends with the same hash.
        var leaves = new List<byte[]>();
        var keys = new List<uint>();
        int index = 0;
        while (index < hashed.Length)
        {
            byte[] leaf = new byte[BlockSize];
            uint first = hashed[index].Hash;
            keys.Add(leaves.Count > 0 && hashed[index - 1].Hash == first ? first | 1 : first);
            int at = 0;
            int lastAt = 0;
            while (index < hashed.Length && at + RecordLength(hashed[index].Entry.Name.Length) <= LeafSpace)
            {
                lastAt = at;
                int length = RecordLength(hashed[index].Entry.Name.Length);
                WriteEntry(leaf, at, hashed[index].Entry, length);
                at += length;
                index++;
            }
            Put16(leaf, lastAt + 4, LeafSpace - lastAt);
            SealLeaf(leaf, inodeSeed);
            leaves.Add(leaf);
        }

        if (leaves.Count <= RootLimit)
        {
            // Logical layout: 0 = root, 1..L = leaves.
            var blocks = new List<byte[]>(leaves.Count + 1) { BuildRoot(self, parent, 0, keys, 1, inodeSeed) };
            blocks.AddRange(leaves);
            return blocks;
        }

        int nodeCount = (leaves.Count + NodeLimit - 1) / NodeLimit;
        if (nodeCount > RootLimit)
        {
            throw new DecantException(DecantErrorKind.OutputError, $"a directory with {entries.Count} entries needs more than two htree levels (the large_dir feature), which this writer does not write");
        }
        // Logical layout: 0 = root, 1..N = index nodes, N+1.. = leaves. Leaves are shared evenly among nodes.
        var nodeKeys = new List<uint>();
        var nodes = new List<byte[]>();
        int perNode = (leaves.Count + nodeCount - 1) / nodeCount;
        for (int start = 0; start < leaves.Count; start += perNode)
        {
            int count = Math.Min(perNode, leaves.Count - start);
            nodeKeys.Add(keys[start]);
            nodes.Add(BuildNode(keys.GetRange(start, count), 1 + nodeCount + start, inodeSeed));
        }
        var all = new List<byte[]>(1 + nodes.Count + leaves.Count) { BuildRoot(self, parent, 1, nodeKeys, 1, inodeSeed) };
        all.AddRange(nodes);
        all.AddRange(leaves);
        return all;
    }

    private static byte[] BuildRoot(uint self, uint parent, int indirectLevels, List<uint> keys, int firstChild, uint inodeSeed)
    {
        byte[] block = new byte[BlockSize];
        WriteDots(block, self, parent, BlockSize - DotRecord);
        Put32(block, 24, 0);
        block[28] = Ext4Constants.HashHalfMd4;
        block[29] = 8;
        block[30] = (byte)indirectLevels;
        block[31] = 0;
        WriteIndex(block, RootEntriesOffset, RootLimit, keys, firstChild, inodeSeed);
        return block;
    }

    private static byte[] BuildNode(List<uint> keys, int firstChild, uint inodeSeed)
    {
        byte[] block = new byte[BlockSize];
        Put32(block, 0, 0);
        Put16(block, 4, BlockSize);
        WriteIndex(block, NodeEntriesOffset, NodeLimit, keys, firstChild, inodeSeed);
        return block;
    }

    /// <summary>Writes the count/limit header and the entries (children at consecutive logical blocks), then the dx tail.</summary>
    private static void WriteIndex(byte[] block, int offset, int limit, List<uint> keys, int firstChild, uint inodeSeed)
    {
        Put16(block, offset, limit);
        Put16(block, offset + 2, keys.Count);
        Put32(block, offset + 4, (uint)firstChild);
        for (int i = 1; i < keys.Count; i++)
        {
            Put32(block, offset + i * 8, keys[i]);
            Put32(block, offset + i * 8 + 4, (uint)(firstChild + i));
        }
        int tail = offset + limit * 8;
        Put32(block, tail, 0);
        uint crc = Crc32C.Append(inodeSeed, block.AsSpan(0, offset + keys.Count * 8));
        crc = Crc32C.Append(crc, block.AsSpan(tail, 4));
        crc = Crc32C.Append(crc, 0u);
        Put32(block, tail + 4, crc);
    }
}
