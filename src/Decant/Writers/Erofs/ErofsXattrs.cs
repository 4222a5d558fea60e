using Decant.Model;
using static Decant.Writers.LittleEndian;

namespace Decant.Writers.Erofs;

/// <summary>
/// One extended attribute as EROFS stores it: a name-prefix index (<c>user.</c>, the two POSIX ACL
/// names, <c>trusted.</c>, <c>security.</c>), the rest of the name, and the value. Equal when all three are.
/// </summary>
internal sealed class ErofsXattr : IEquatable<ErofsXattr>
{
    public ErofsXattr(byte index, byte[] suffix, byte[] value)
    {
        Index = index;
        Suffix = suffix;
        Value = value;
    }

    public byte Index { get; }
    public byte[] Suffix { get; }
    public byte[] Value { get; }

    /// <summary>The entry's size on disk: a 4-byte header, the name and the value, padded to 4 bytes.</summary>
    public int EntrySize => (ErofsConstants.XattrEntryHeaderSize + Suffix.Length + Value.Length + 3) & ~3;

    /// <summary>Writes the entry (and its padding) at the start of <paramref name="destination"/>.</summary>
    public void WriteTo(Span<byte> destination)
    {
        var entry = destination[..EntrySize];
        entry.Clear();
        entry[0] = (byte)Suffix.Length;
        entry[1] = Index;
        Put16(entry, 2, Value.Length);
        Suffix.CopyTo(entry[4..]);
        Value.CopyTo(entry[(4 + Suffix.Length)..]);
    }

    public bool Equals(ErofsXattr? other) =>
        other is not null && Index == other.Index && Suffix.AsSpan().SequenceEqual(other.Suffix) && Value.AsSpan().SequenceEqual(other.Value);

    public override bool Equals(object? obj) => Equals(obj as ErofsXattr);

    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.Add(Index);
        hash.AddBytes(Suffix);
        hash.AddBytes(Value);
        return hash.ToHashCode();
    }

    /// <summary>The order of an inode's inline entries: by index, then name bytes.</summary>
    public static int Compare(ErofsXattr a, ErofsXattr b) =>
        a.Index != b.Index ? a.Index.CompareTo(b.Index) : a.Suffix.AsSpan().SequenceCompareTo(b.Suffix);
}

/// <summary>The tree's xattr names in EROFS's short name-prefix indexes, and the in-inode xattr body.</summary>
internal static class ErofsXattrs
{
    private static readonly (string Prefix, byte Index)[] Prefixes =
    [
        ("user.", XattrNameIndexes.User), ("trusted.", XattrNameIndexes.Trusted), ("security.", XattrNameIndexes.Security),
    ];

    /// <summary>
    /// Converts the tree's xattrs, sorted; a name no prefix index covers (another <c>system.</c> name)
    /// goes to <paramref name="skipped"/>. POSIX ACLs keep the xattr form the kernel reads back as is.
    /// </summary>
    public static List<ErofsXattr> Convert(IReadOnlyList<KeyValuePair<string, byte[]>> xattrs, List<string> skipped)
    {
        var result = new List<ErofsXattr>(xattrs.Count);
        foreach (var (name, value) in xattrs)
        {
            if (value.Length > ushort.MaxValue)
            {
                throw new DecantException(DecantErrorKind.OutputError, $"the xattr \"{name}\" has a value of {value.Length} bytes; EROFS holds at most {ushort.MaxValue}");
            }
            if (XattrNameIndexes.PosixAcl(name) is > 0 and var acl)
            {
                result.Add(new ErofsXattr(acl, [], value));
                continue;
            }
            if (!XattrNameIndexes.TrySplit(name, Prefixes, "EROFS", out byte index, out byte[] suffix))
            {
                skipped.Add(name);
                continue;
            }
            result.Add(new ErofsXattr(index, suffix, value));
        }
        result.Sort(ErofsXattr.Compare);
        return result;
    }

    /// <summary>The size of an inode's xattr body: 0 without xattrs, else the 12-byte header, the shared ids and the inline entries.</summary>
    public static int BodySize(int sharedCount, IReadOnlyList<ErofsXattr> inline)
    {
        if (sharedCount == 0 && inline.Count == 0)
        {
            return 0;
        }
        int size = ErofsConstants.XattrIbodyHeaderSize + 4 * sharedCount;
        foreach (var xattr in inline)
        {
            size += xattr.EntrySize;
        }
        return size;
    }

    /// <summary><c>i_xattr_icount</c> for a body of <paramref name="bodySize"/> bytes (0 for none).</summary>
    public static ushort Count(int bodySize, string path)
    {
        if (bodySize == 0)
        {
            return 0;
        }
        int count = 1 + (bodySize - ErofsConstants.XattrIbodyHeaderSize) / 4;
        return count <= ushort.MaxValue
            ? (ushort)count
            : throw new DecantException(DecantErrorKind.OutputError, $"\"{path}\": the xattrs take {bodySize} bytes; EROFS holds at most {ErofsConstants.XattrIbodyHeaderSize + 4 * (ushort.MaxValue - 1)} in an inode");
    }

    /// <summary>Writes the xattr body: header, shared xattr ids, inline entries.</summary>
    public static void WriteBody(Span<byte> destination, IReadOnlyList<uint> sharedIds, IReadOnlyList<ErofsXattr> inline)
    {
        destination[..ErofsConstants.XattrIbodyHeaderSize].Clear();
        destination[4] = (byte)sharedIds.Count;
        int at = ErofsConstants.XattrIbodyHeaderSize;
        foreach (uint id in sharedIds)
        {
            Put32(destination, at, id);
            at += 4;
        }
        foreach (var xattr in inline)
        {
            xattr.WriteTo(destination[at..]);
            at += xattr.EntrySize;
        }
    }
}
