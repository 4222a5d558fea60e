using System.Buffers.Binary;
using System.Text;
using Decant.Model;
using static Decant.Writers.LittleEndian;

namespace Decant.Writers.Ext4;

/// <summary>One extended attribute as ext4 stores it: a name index (the namespace prefix) and the rest of the name.</summary>
internal sealed record Ext4Xattr(byte Index, byte[] Suffix, byte[] Value)
{
    public int EntrySize => (16 + Suffix.Length + 3) & ~3;

    public int ValueSize => (Value.Length + 3) & ~3;

    /// <summary>The entry hash e2fsck and the kernel check: the name bytes, then the value as little-endian words.</summary>
    public uint Hash()
    {
        uint hash = 0;
        foreach (byte b in Suffix)
        {
            hash = (hash << 5) ^ (hash >> 27) ^ b;
        }
        Span<byte> word = stackalloc byte[4];
        for (int at = 0; at < Value.Length; at += 4)
        {
            word.Clear();
            Value.AsSpan(at, Math.Min(4, Value.Length - at)).CopyTo(word);
            hash = (hash << 16) ^ (hash >> 16) ^ BinaryPrimitives.ReadUInt32LittleEndian(word);
        }
        return hash;
    }
}

/// <summary>
/// Places an inode's xattrs: as many as fit in the inode body after the extra fields (96 bytes with
/// 256-byte inodes), the rest in one xattr block. Entries are sorted as the kernel expects in a block.
/// </summary>
internal static class XattrLayout
{
    public const int InodeSpace = Ext4Constants.InodeSize - 128 - Ext4Constants.ExtraInodeSize;
    private const int BlockHeaderSize = 32;

    private static readonly (string Prefix, byte Index)[] Prefixes =
    [
        ("user.", XattrNameIndexes.User), ("trusted.", XattrNameIndexes.Trusted), ("security.", XattrNameIndexes.Security), ("system.", XattrNameIndexes.System),
    ];

    /// <summary>Converts the tree's xattrs; names ext4 has no namespace for are returned in <paramref name="skipped"/>.</summary>
    public static List<Ext4Xattr> Convert(IReadOnlyList<KeyValuePair<string, byte[]>> xattrs, List<string> skipped)
    {
        var result = new List<Ext4Xattr>(xattrs.Count);
        foreach (var (name, value) in xattrs)
        {
            if (XattrNameIndexes.PosixAcl(name) is > 0 and var acl)
            {
                result.Add(new Ext4Xattr(acl, [], PosixAcl.ToDisk(value, name)));
                continue;
            }
            if (!XattrNameIndexes.TrySplit(name, Prefixes, "ext4", out byte index, out byte[] suffix))
            {
                skipped.Add(name);
                continue;
            }
            result.Add(new Ext4Xattr(index, suffix, value));
        }
        result.Sort(Compare);
        return result;
    }

    /// <summary>Splits sorted xattrs into those kept in the inode body and those for the xattr block.</summary>
    public static (List<Ext4Xattr> Inline, List<Ext4Xattr> Block) Split(List<Ext4Xattr> xattrs)
    {
        var inline = new List<Ext4Xattr>();
        var block = new List<Ext4Xattr>();
        int used = 4 + 4; // magic and the terminating zero word
        foreach (var xattr in xattrs)
        {
            int need = xattr.EntrySize + xattr.ValueSize;
            if (used + need <= InodeSpace)
            {
                inline.Add(xattr);
                used += need;
            }
            else
            {
                block.Add(xattr);
            }
        }
        if (block.Count > 0)
        {
            int blockUsed = BlockHeaderSize + 4 + block.Sum(x => x.EntrySize + x.ValueSize);
            if (blockUsed > Ext4Constants.BlockSize)
            {
                throw new DecantException(DecantErrorKind.OutputError, $"xattrs take {blockUsed} bytes beyond the inode, more than one ext4 xattr block holds (the ea_inode feature is not written)");
            }
        }
        return (inline, block);
    }

    /// <summary>Writes the in-inode xattr area (magic, entries, values) into <paramref name="body"/> (<see cref="InodeSpace"/> bytes).</summary>
    public static void WriteInline(Span<byte> body, IReadOnlyList<Ext4Xattr> xattrs)
    {
        if (xattrs.Count == 0)
        {
            return;
        }
        Put32(body, 0, Ext4Constants.XattrMagic);
        WriteEntries(body[4..], xattrs, valueBase: 0, computeHashes: true);
    }

    /// <summary>Builds an xattr block, checksummed for its place at <paramref name="blockNumber"/>.</summary>
    public static byte[] BuildBlock(List<Ext4Xattr> xattrs, long blockNumber, uint filesystemSeed)
    {
        byte[] block = new byte[Ext4Constants.BlockSize];
        Put32(block, 0, Ext4Constants.XattrMagic);
        Put32(block, 4, 1); // refcount
        Put32(block, 8, 1); // blocks
        uint blockHash = WriteEntries(block.AsSpan(BlockHeaderSize), xattrs, valueBase: BlockHeaderSize, computeHashes: true);
        Put32(block, 12, blockHash);
        uint crc = Crc32C.Append(filesystemSeed, (uint)blockNumber);
        crc = Crc32C.Append(crc, (uint)(blockNumber >> 32));
        Put32(block, 16, Crc32C.Append(crc, block));
        return block;
    }

    /// <summary>
    /// Writes entries from the start of <paramref name="area"/> and values from its end. Value offsets
    /// are relative to the area's start plus <paramref name="valueBase"/>. Returns the block hash.
    /// </summary>
    private static uint WriteEntries(Span<byte> area, IReadOnlyList<Ext4Xattr> xattrs, int valueBase, bool computeHashes)
    {
        int entryAt = 0;
        int valueEnd = area.Length;
        uint blockHash = 0;
        foreach (var xattr in xattrs)
        {
            int valueAt = 0;
            if (xattr.Value.Length > 0)
            {
                valueEnd -= xattr.ValueSize;
                valueAt = valueEnd;
                xattr.Value.CopyTo(area[valueAt..]);
            }
            uint hash = computeHashes ? xattr.Hash() : 0;
            area[entryAt] = (byte)xattr.Suffix.Length;
            area[entryAt + 1] = xattr.Index;
            Put16(area, entryAt + 2, xattr.Value.Length > 0 ? valueAt + valueBase : 0);
            Put32(area, entryAt + 4, 0);
            Put32(area, entryAt + 8, (uint)xattr.Value.Length);
            Put32(area, entryAt + 12, hash);
            xattr.Suffix.CopyTo(area[(entryAt + 16)..]);
            entryAt += xattr.EntrySize;
            blockHash = (blockHash << 16) ^ (blockHash >> 16) ^ hash;
        }
        return blockHash;
    }

    private static int Compare(Ext4Xattr a, Ext4Xattr b)
    {
        if (a.Index != b.Index)
        {
            return a.Index.CompareTo(b.Index);
        }
        if (a.Suffix.Length != b.Suffix.Length)
        {
            return a.Suffix.Length.CompareTo(b.Suffix.Length);
        }
        return a.Suffix.AsSpan().SequenceCompareTo(b.Suffix);
    }
}
