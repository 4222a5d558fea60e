using System.Buffers.Text;
using System.Globalization;
using Decant.Model;

namespace Decant.Layers;

/// <summary>
/// Parses the records of a PAX extended header ("LEN KEY=VALUE\n") into
/// <see cref="TarPendingMetadata"/>. Values are UTF-8 text, except xattr values, which are kept as
/// raw bytes (<c>SCHILY.xattr.NAME</c>) or decoded from base64 (<c>LIBARCHIVE.xattr.NAME</c>).
/// A record with an empty value cancels that key, as POSIX says.
/// </summary>
internal static class TarPaxRecords
{
    private const string SchilyXattr = "SCHILY.xattr.";
    private const string LibarchiveXattr = "LIBARCHIVE.xattr.";

    public static void Parse(ReadOnlySpan<byte> records, TarPendingMetadata target, TarReaderLimits limits, long offset)
    {
        int position = 0;
        while (position < records.Length)
        {
            var rest = records[position..];
            // GNU tar pads a PAX header that it cut short with NULs; nothing may follow them.
            if (rest[0] == 0 && !rest.ContainsAnyExcept((byte)0))
            {
                return;
            }
            int space = rest.IndexOf((byte)' ');
            if (space <= 0 || !int.TryParse(rest[..space], NumberStyles.None, CultureInfo.InvariantCulture, out int length)
                || length <= space + 1 || length > rest.Length || rest[length - 1] != '\n')
            {
                throw TarErrors.Invalid($"the PAX extended header at byte offset {offset} has a malformed record at byte {position}");
            }
            var record = rest[(space + 1)..(length - 1)];
            int equals = record.IndexOf((byte)'=');
            if (equals <= 0)
            {
                throw TarErrors.Invalid($"the PAX extended header at byte offset {offset} has a record without a key at byte {position}");
            }
            Apply(TarText.Decode(record[..equals]), record[(equals + 1)..], target, limits, offset);
            position += length;
        }
    }

    private static void Apply(string key, ReadOnlySpan<byte> value, TarPendingMetadata target, TarReaderLimits limits, long offset)
    {
        switch (key)
        {
            case "path":
                target.Path = Text(key, value, offset);
                return;
            case "linkpath":
                target.LinkPath = Text(key, value, offset);
                return;
            case "uname":
                target.UserName = Text(key, value, offset);
                return;
            case "gname":
                target.GroupName = Text(key, value, offset);
                return;
            case "size":
                target.Size = Number(key, value, offset, allowNegative: false);
                return;
            case "uid":
                target.Uid = Number(key, value, offset, allowNegative: false);
                return;
            case "gid":
                target.Gid = Number(key, value, offset, allowNegative: false);
                return;
            case "mtime":
                target.ModificationTime = value.IsEmpty ? null : Time(key, value, offset);
                return;
            case "atime":
                target.AccessTime = value.IsEmpty ? null : Time(key, value, offset);
                return;
            case "GNU.sparse.major":
                target.SparseMajor = Number(key, value, offset, allowNegative: false);
                return;
            case "GNU.sparse.minor":
                target.SparseMinor = Number(key, value, offset, allowNegative: false);
                return;
            case "GNU.sparse.name":
                target.SparseName = Text(key, value, offset);
                return;
            case "GNU.sparse.realsize":
            case "GNU.sparse.size":
                target.SparseRealSize = Number(key, value, offset, allowNegative: false);
                return;
            case "GNU.sparse.map":
                target.SparseMap = TarSparseMap.ParseMapRecord(value, limits, offset);
                return;
            case "GNU.sparse.offset":
                target.SparsePendingOffset = Number(key, value, offset, allowNegative: false);
                return;
            case "GNU.sparse.numbytes":
                AddSparseSegment(target, Number(key, value, offset, allowNegative: false), limits, offset);
                return;
        }
        if (key.StartsWith(SchilyXattr, StringComparison.Ordinal) && key.Length > SchilyXattr.Length)
        {
            AddXattr(target, key[SchilyXattr.Length..], value.ToArray(), limits, offset);
        }
        else if (key.StartsWith(LibarchiveXattr, StringComparison.Ordinal) && key.Length > LibarchiveXattr.Length)
        {
            AddXattr(target, Uri.UnescapeDataString(key[LibarchiveXattr.Length..]), Base64Value(key, value, offset), limits, offset);
        }
    }

    private static void AddSparseSegment(TarPendingMetadata target, long? length, TarReaderLimits limits, long offset)
    {
        if (target.SparsePendingOffset is not { } segmentOffset || length is null)
        {
            throw TarErrors.Invalid($"the PAX extended header at byte offset {offset} has GNU.sparse.numbytes without a GNU.sparse.offset before it");
        }
        var map = target.SparseMap ??= [];
        if (map.Count >= limits.MaxSparseMapEntries)
        {
            throw TarErrors.LimitExceeded(nameof(limits.MaxSparseMapEntries), map.Count + 1L, limits.MaxSparseMapEntries, "the sparse map in the PAX extended header", offset);
        }
        map.Add(new TarSparseSegment(segmentOffset, length.Value));
        target.SparsePendingOffset = null;
    }

    /// <summary>Adds an xattr; a later record for the same name replaces the earlier value in place.</summary>
    private static void AddXattr(TarPendingMetadata target, string name, byte[] value, TarReaderLimits limits, long offset)
    {
        var xattrs = target.Xattrs ??= [];
        var index = target.XattrIndex ??= new Dictionary<string, int>(StringComparer.Ordinal);
        bool exists = index.TryGetValue(name, out int existing);
        long added = exists ? value.Length - xattrs[existing].Value.Length : NameBytes.GetByteCount(name) + value.Length;
        if (target.XattrBytes + added > limits.MaxXattrBytesPerEntry)
        {
            throw TarErrors.LimitExceeded(nameof(limits.MaxXattrBytesPerEntry), target.XattrBytes + added, limits.MaxXattrBytesPerEntry, "the extended attributes in the PAX extended header", offset);
        }
        target.XattrBytes += added;
        if (exists)
        {
            xattrs[existing] = new(name, value);
        }
        else
        {
            index[name] = xattrs.Count;
            xattrs.Add(new(name, value));
        }
    }

    private static string? Text(string key, ReadOnlySpan<byte> value, long offset)
    {
        if (value.IsEmpty)
        {
            return null;
        }
        if (value.Contains((byte)0))
        {
            throw TarErrors.Invalid($"the PAX extended header at byte offset {offset} has a NUL byte in its \"{key}\" value");
        }
        return TarText.Decode(value);
    }

    private static long? Number(string key, ReadOnlySpan<byte> value, long offset, bool allowNegative)
    {
        if (value.IsEmpty)
        {
            return null;
        }
        var styles = allowNegative ? NumberStyles.AllowLeadingSign : NumberStyles.None;
        if (!long.TryParse(value, styles, CultureInfo.InvariantCulture, out long number))
        {
            throw TarErrors.Invalid($"the PAX extended header at byte offset {offset} has an invalid \"{key}\" value \"{TarText.Decode(value)}\"");
        }
        return number;
    }

    /// <summary>Parses "[-]SECONDS[.FRACTION]"; digits past nanoseconds are dropped.</summary>
    private static Timestamp Time(string key, ReadOnlySpan<byte> value, long offset)
    {
        bool negative = value[0] == '-';
        var digits = negative ? value[1..] : value;
        int dot = digits.IndexOf((byte)'.');
        var whole = dot < 0 ? digits : digits[..dot];
        var fraction = dot < 0 ? [] : digits[(dot + 1)..];
        if (!long.TryParse(whole, NumberStyles.None, CultureInfo.InvariantCulture, out long seconds)
            || fraction.ContainsAnyExceptInRange((byte)'0', (byte)'9'))
        {
            throw TarErrors.Invalid($"the PAX extended header at byte offset {offset} has an invalid \"{key}\" time \"{TarText.Decode(value)}\"");
        }
        uint nanoseconds = 0;
        for (int i = 0; i < 9; i++)
        {
            nanoseconds = nanoseconds * 10 + (i < fraction.Length ? (uint)(fraction[i] - '0') : 0);
        }
        if (!negative)
        {
            return new Timestamp(seconds, nanoseconds);
        }
        // -S.F is -(S+1) seconds plus (1 - 0.F): nanoseconds stay in [0, 1e9).
        return nanoseconds == 0 ? new Timestamp(-seconds, 0) : new Timestamp(-seconds - 1, 1_000_000_000 - nanoseconds);
    }

    private static byte[] Base64Value(string key, ReadOnlySpan<byte> value, long offset)
    {
        // libarchive writes base64 without padding; restore it before decoding.
        int padded = (value.Length + 3) / 4 * 4;
        byte[] encoded = new byte[padded];
        value.CopyTo(encoded);
        encoded.AsSpan(value.Length).Fill((byte)'=');
        byte[] decoded = new byte[Base64.GetMaxDecodedFromUtf8Length(padded)];
        if (Base64.DecodeFromUtf8(encoded, decoded, out _, out int written) != System.Buffers.OperationStatus.Done)
        {
            throw TarErrors.Invalid($"the PAX extended header at byte offset {offset} has invalid base64 in \"{key}\"");
        }
        return decoded[..written];
    }
}
