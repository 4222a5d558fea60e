using System.Globalization;
using System.Text;

namespace Decant.Tests.Differential;

/// <summary>One tar entry's name, link name and <c>SCHILY.xattr.*</c> records, as the archive's bytes.</summary>
internal sealed record RawTarEntry(byte[] Name, byte[] LinkName, IReadOnlyDictionary<string, byte[]> Xattrs);

/// <summary>
/// The exact bytes of every entry's name, link name and <c>SCHILY.xattr.*</c> PAX records in a tar,
/// in entry order. System.Formats.Tar decodes names and PAX values as UTF-8 text, which loses names
/// that are not UTF-8 and binary xattr values (such as <c>00ff7f80</c>); this small scanner keeps
/// them. Xattr names are keyed as a <see cref="Support.TreeSnapshot"/> shows them. It understands
/// only what a flattened tar written by Decant may hold (ustar headers, optionally preceded by one
/// PAX <c>x</c> header) and fails on anything else.
/// </summary>
internal static class RawTarScan
{
    private const int BlockSize = 512;

    public static async Task<IReadOnlyList<RawTarEntry>> ReadAsync(string tarPath, CancellationToken cancellationToken)
    {
        byte[] tar = await File.ReadAllBytesAsync(tarPath, cancellationToken);
        var entries = new List<RawTarEntry>();
        Dictionary<string, byte[]>? pending = null;
        Dictionary<string, byte[]>? pendingRecords = null;
        long? pendingSize = null;
        int offset = 0;
        while (offset + BlockSize <= tar.Length)
        {
            var header = tar.AsSpan(offset, BlockSize);
            if (!header.ContainsAnyExcept((byte)0))
            {
                return pending is null ? entries : throw new InvalidDataException($"{tarPath}: a PAX header at the end has no entry");
            }
            char type = (char)header[156];
            long size = type == 'x' ? ParseOctal(header.Slice(124, 12)) : pendingSize ?? ParseOctal(header.Slice(124, 12));
            int body = offset + BlockSize;
            offset = checked(body + (int)((size + BlockSize - 1) / BlockSize * BlockSize));
            if (type == 'x')
            {
                var records = ParseRecords(tar.AsSpan(body, (int)size), tarPath);
                pending = records.Where(r => r.Key.StartsWith(LayerEntries.XattrPrefix, StringComparison.Ordinal))
                    .ToDictionary(r => r.Key[LayerEntries.XattrPrefix.Length..], r => r.Value, StringComparer.Ordinal);
                pendingRecords = records;
                pendingSize = records.TryGetValue("size", out byte[]? sizeText) ? long.Parse(Encoding.ASCII.GetString(sizeText), CultureInfo.InvariantCulture) : null;
                continue;
            }
            if (type is not ('0' or '1' or '2' or '3' or '4' or '5' or '6'))
            {
                throw new InvalidDataException($"{tarPath}: unexpected tar entry type '{type}' at offset {body - BlockSize}");
            }
            byte[] name = pendingRecords?.GetValueOrDefault("path") ?? UstarName(header);
            byte[] link = pendingRecords?.GetValueOrDefault("linkpath") ?? UntilNul(header.Slice(157, 100)).ToArray();
            entries.Add(new RawTarEntry(name, link, pending ?? new Dictionary<string, byte[]>(StringComparer.Ordinal)));
            pending = null;
            pendingRecords = null;
            pendingSize = null;
        }
        throw new InvalidDataException($"{tarPath}: no end-of-archive marker");
    }

    /// <summary>Splits a PAX body into its <c>LEN key=value\n</c> records.</summary>
    private static Dictionary<string, byte[]> ParseRecords(ReadOnlySpan<byte> body, string tarPath)
    {
        var records = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        while (!body.IsEmpty)
        {
            int space = body.IndexOf((byte)' ');
            int length = space > 0 ? int.Parse(body[..space], NumberStyles.None, CultureInfo.InvariantCulture) : -1;
            if (length <= space || length > body.Length || body[length - 1] != (byte)'\n')
            {
                throw new InvalidDataException($"{tarPath}: malformed PAX record \"{Encoding.UTF8.GetString(body[..Math.Min(body.Length, 40)])}\"");
            }
            var record = body[(space + 1)..(length - 1)];
            int equals = record.IndexOf((byte)'=');
            records[Support.SnapshotPath.Display(record[..equals])] = record[(equals + 1)..].ToArray();
            body = body[length..];
        }
        return records;
    }

    private static byte[] UstarName(ReadOnlySpan<byte> header)
    {
        var name = UntilNul(header[..100]);
        var prefix = UntilNul(header.Slice(345, 155));
        return prefix.IsEmpty ? name.ToArray() : [.. prefix, (byte)'/', .. name];
    }

    private static ReadOnlySpan<byte> UntilNul(ReadOnlySpan<byte> field)
    {
        int nul = field.IndexOf((byte)0);
        return nul < 0 ? field : field[..nul];
    }

    private static long ParseOctal(ReadOnlySpan<byte> field)
    {
        long value = 0;
        foreach (byte digit in field.Trim((byte)' ').TrimEnd((byte)0).Trim((byte)' '))
        {
            value = value * 8 + (digit - '0');
        }
        return value;
    }
}
