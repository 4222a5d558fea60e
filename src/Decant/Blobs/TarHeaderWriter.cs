using System.Buffers.Text;
using System.Globalization;
using System.Text;
using System.Text.Unicode;
using Decant.Model;

namespace Decant.Blobs;

/// <summary>What one output tar entry says about itself.</summary>
internal readonly record struct TarRecord(
    string Name,
    char TypeFlag,
    uint Mode,
    long Uid,
    long Gid,
    long Size,
    Timestamp ModificationTime,
    string LinkName,
    uint DeviceMajor,
    uint DeviceMinor,
    IReadOnlyList<KeyValuePair<string, byte[]>> Xattrs);

/// <summary>
/// Writes POSIX (ustar + PAX) tar headers. A plain ustar header is used when the entry fits one;
/// otherwise a PAX extended header carries long names, big numbers, sub-second times and xattrs.
/// </summary>
internal static class TarHeaderWriter
{
    public const int BlockSize = 512;
    private const long MaxOctal7 = 0x1F_FFFF;          // 7 octal digits (ids, modes)
    private const long MaxOctal11 = 0x1_FFFF_FFFF;     // 11 octal digits (size, mtime)

    /// <summary>
    /// Writes the header block(s) of <paramref name="record"/>, with <paramref name="extraRecords"/>
    /// (such as a sparse file's <c>GNU.sparse.*</c>) first in its PAX header; the caller writes
    /// content and padding.
    /// </summary>
    public static async ValueTask WriteAsync(Stream output, TarRecord record, CancellationToken cancellationToken, IReadOnlyList<KeyValuePair<string, byte[]>>? extraRecords = null)
    {
        byte[] name = NameBytes.GetBytes(record.Name);
        byte[] link = NameBytes.GetBytes(record.LinkName);
        var pax = new List<KeyValuePair<string, byte[]>>(extraRecords ?? []);
        if (name.Length > 100)
        {
            pax.Add(new("path", name));
        }
        if (link.Length > 100)
        {
            pax.Add(new("linkpath", link));
        }
        if (record.Size > MaxOctal11)
        {
            pax.Add(new("size", Ascii(record.Size)));
        }
        if (record.Uid is < 0 or > MaxOctal7)
        {
            pax.Add(new("uid", Ascii(record.Uid)));
        }
        if (record.Gid is < 0 or > MaxOctal7)
        {
            pax.Add(new("gid", Ascii(record.Gid)));
        }
        var mtime = record.ModificationTime;
        if (mtime.Nanoseconds != 0 || mtime.Seconds is < 0 or > MaxOctal11)
        {
            pax.Add(new("mtime", Encoding.ASCII.GetBytes(mtime.ToString())));
        }
        foreach (var (key, value) in record.Xattrs)
        {
            pax.Add(new("SCHILY.xattr." + key, value));
        }

        if (pax.Count > 0)
        {
            // PAX text is UTF-8; a name or key holding other bytes is announced as binary (POSIX
            // hdrcharset), which GNU tar and libarchive then take byte for byte. (xattr values are
            // raw bytes in any case.)
            if (pax.Exists(static r => NameBytes.HasRawBytes(r.Key) || (r.Key is "path" or "linkpath" or "GNU.sparse.name" && !Utf8.IsValid(r.Value))))
            {
                pax.Insert(0, new("hdrcharset", "BINARY"u8.ToArray()));
            }
            byte[] body = EncodePax(pax);
            byte[] paxHeader = new byte[BlockSize];
            FillUstar(paxHeader, Truncate(NameBytes.GetBytes("PaxHeaders/" + record.Name), 100), 'x', 0b110_100_100, 0, 0, body.Length, Math.Clamp(mtime.Seconds, 0, MaxOctal11), [], 0, 0);
            await output.WriteAsync(paxHeader, cancellationToken).ConfigureAwait(false);
            await output.WriteAsync(body, cancellationToken).ConfigureAwait(false);
            await WritePaddingAsync(output, body.Length, cancellationToken).ConfigureAwait(false);
        }

        byte[] header = new byte[BlockSize];
        FillUstar(header, Truncate(name, 100), record.TypeFlag, record.Mode,
            Math.Clamp(record.Uid, 0, MaxOctal7), Math.Clamp(record.Gid, 0, MaxOctal7),
            record.Size > MaxOctal11 ? 0 : record.Size, Math.Clamp(mtime.Seconds, 0, MaxOctal11),
            Truncate(link, 100), record.DeviceMajor, record.DeviceMinor);
        await output.WriteAsync(header, cancellationToken).ConfigureAwait(false);
    }

    private static readonly byte[] Zeros = new byte[BlockSize * 2];

    /// <summary>Pads content of <paramref name="size"/> bytes up to the next block boundary.</summary>
    public static ValueTask WritePaddingAsync(Stream output, long size, CancellationToken cancellationToken)
    {
        int padding = (int)((BlockSize - (size % BlockSize)) % BlockSize);
        return padding == 0 ? ValueTask.CompletedTask : output.WriteAsync(Zeros.AsMemory(0, padding), cancellationToken);
    }

    /// <summary>The end-of-archive marker: two zero blocks.</summary>
    public static ValueTask WriteEndAsync(Stream output, CancellationToken cancellationToken) =>
        output.WriteAsync(Zeros, cancellationToken);

    private static byte[] EncodePax(List<KeyValuePair<string, byte[]>> records)
    {
        using var body = new MemoryStream();
        foreach (var (key, value) in records)
        {
            // "LEN key=value\n", where LEN counts its own digits.
            byte[] keyBytes = NameBytes.GetBytes(key);
            int rest = 1 + keyBytes.Length + 1 + value.Length + 1;
            int length = rest + 1;
            while (length.ToString(CultureInfo.InvariantCulture).Length + rest != length)
            {
                length++;
            }
            body.Write(Encoding.ASCII.GetBytes(length.ToString(CultureInfo.InvariantCulture) + " "));
            body.Write(keyBytes);
            body.WriteByte((byte)'=');
            body.Write(value);
            body.WriteByte((byte)'\n');
        }
        return body.ToArray();
    }

    private static void FillUstar(byte[] block, ReadOnlySpan<byte> name, char type, uint mode, long uid, long gid, long size, long mtime, ReadOnlySpan<byte> link, uint major, uint minor)
    {
        var span = block.AsSpan();
        name.CopyTo(span[..100]);
        Octal(span.Slice(100, 8), mode & 0xFFF);
        Octal(span.Slice(108, 8), uid);
        Octal(span.Slice(116, 8), gid);
        Octal(span.Slice(124, 12), size);
        Octal(span.Slice(136, 12), mtime);
        span[156] = (byte)type;
        link.CopyTo(span.Slice(157, 100));
        "ustar\0"u8.CopyTo(span.Slice(257, 6));
        "00"u8.CopyTo(span.Slice(263, 2));
        if (type is '3' or '4')
        {
            // Numbers past seven octal digits go in GNU base-256, which GNU tar, Go and Python read
            // in any header; PAX has no standard device keywords.
            OctalOrBase256(span.Slice(329, 8), major);
            OctalOrBase256(span.Slice(337, 8), minor);
        }
        span.Slice(148, 8).Fill((byte)' ');
        int checksum = 0;
        foreach (byte b in span)
        {
            checksum += b;
        }
        Octal(span.Slice(148, 7), checksum);
    }

    /// <summary>Writes <paramref name="value"/> as zero-padded octal, NUL-terminated, filling the field.</summary>
    private static void Octal(Span<byte> field, long value)
    {
        int digits = field.Length - 1;
        for (int i = digits - 1; i >= 0; i--)
        {
            field[i] = (byte)('0' + (value & 7));
            value >>= 3;
        }
        field[digits] = 0;
    }

    /// <summary>Octal when <paramref name="value"/> fits the field's digits, else base-256: the high bit set, then the number big-endian.</summary>
    private static void OctalOrBase256(Span<byte> field, uint value)
    {
        if (value <= MaxOctal7)
        {
            Octal(field, value);
            return;
        }
        field.Clear();
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(field[^4..], value);
        field[0] = 0x80;
    }

    private static byte[] Ascii(long value)
    {
        byte[] text = new byte[20];
        Utf8Formatter.TryFormat(value, text, out int written);
        return text[..written];
    }

    private static ReadOnlySpan<byte> Truncate(byte[] value, int max) => value.Length <= max ? value : value.AsSpan(0, max);
}
