using System.Globalization;

namespace Decant.Layers;

/// <summary>One stored region of a sparse file: <see cref="Length"/> bytes of data at <see cref="Offset"/>.</summary>
internal readonly record struct TarSparseSegment(long Offset, long Length)
{
    public long End => Offset + Length;
}

/// <summary>
/// Reads GNU sparse maps in all their encodings: PAX 0.1 (<c>GNU.sparse.map</c>), PAX 1.0 (a
/// decimal map at the start of the entry's data), and old GNU type 'S' (in the header and its
/// extension blocks). Every map is bounded by <see cref="TarReaderLimits.MaxSparseMapEntries"/>.
/// </summary>
internal static class TarSparseMap
{
    /// <summary>Parses a 0.1 map: "offset,length,offset,length,…".</summary>
    public static List<TarSparseSegment>? ParseMapRecord(ReadOnlySpan<byte> value, TarReaderLimits limits, long offset)
    {
        if (value.IsEmpty)
        {
            return null;
        }
        var map = new List<TarSparseSegment>();
        long? pendingOffset = null;
        foreach (var range in value.Split((byte)','))
        {
            if (!long.TryParse(value[range], NumberStyles.None, CultureInfo.InvariantCulture, out long number))
            {
                throw TarErrors.Invalid($"the PAX extended header at byte offset {offset} has an invalid GNU.sparse.map");
            }
            if (pendingOffset is null)
            {
                pendingOffset = number;
                continue;
            }
            CheckCount(map.Count + 1L, limits, "the GNU.sparse.map in the PAX extended header", offset);
            map.Add(new TarSparseSegment(pendingOffset.Value, number));
            pendingOffset = null;
        }
        if (pendingOffset is not null)
        {
            throw TarErrors.Invalid($"the PAX extended header at byte offset {offset} has a GNU.sparse.map with an odd number of values");
        }
        return map;
    }

    /// <summary>
    /// Reads a 1.0 map from the start of the entry's data: a count, then offset and length pairs,
    /// each a decimal number on its own line, padded with NULs to a block boundary. Returns the map
    /// and how many data bytes it took.
    /// </summary>
    public static async ValueTask<(List<TarSparseSegment> Map, long MapBytes)> ReadDataMapAsync(
        TarInput input, long storedSize, TarReaderLimits limits, string entry, CancellationToken cancellationToken)
    {
        long start = input.Position;
        var reader = new DecimalLineReader(input, storedSize, entry);
        long count = await reader.NextAsync(cancellationToken).ConfigureAwait(false);
        CheckCount(count, limits, $"the sparse map of \"{entry}\"", start, entry);
        var map = new List<TarSparseSegment>((int)Math.Min(count, 1024));
        for (long i = 0; i < count; i++)
        {
            long segmentOffset = await reader.NextAsync(cancellationToken).ConfigureAwait(false);
            long length = await reader.NextAsync(cancellationToken).ConfigureAwait(false);
            map.Add(new TarSparseSegment(segmentOffset, length));
        }
        return (map, reader.BlocksTaken * TarHeaderFields.BlockSize);
    }

    /// <summary>
    /// Reads an old GNU sparse map: up to four pairs in the header block, then, while the
    /// is-extended flag is set, 21 more pairs per extension block read from the archive.
    /// </summary>
    public static async ValueTask<List<TarSparseSegment>> ReadOldGnuMapAsync(
        TarInput input, byte[] header, TarReaderLimits limits, string entry, CancellationToken cancellationToken)
    {
        var map = new List<TarSparseSegment>();
        long headerOffset = input.Position - TarHeaderFields.BlockSize;
        AddOldGnuPairs(header.AsSpan(TarHeaderFields.GnuSparseEntries), TarHeaderFields.GnuSparseEntryCount, map, limits, entry, headerOffset);
        bool extended = header[TarHeaderFields.GnuIsExtended] != 0;
        while (extended)
        {
            long blockOffset = input.Position;
            if (await input.EnsureAsync(TarHeaderFields.BlockSize, cancellationToken).ConfigureAwait(false) < TarHeaderFields.BlockSize)
            {
                throw TarErrors.Truncated(input.Position, $"a sparse extension block of \"{entry}\"", entry);
            }
            var block = input.Peek(TarHeaderFields.BlockSize);
            AddOldGnuPairs(block, TarHeaderFields.GnuExtensionEntryCount, map, limits, entry, blockOffset);
            extended = block[TarHeaderFields.GnuExtensionIsExtended] != 0;
            input.Consume(TarHeaderFields.BlockSize);
        }
        return map;
    }

    private static void AddOldGnuPairs(ReadOnlySpan<byte> pairs, int count, List<TarSparseSegment> map, TarReaderLimits limits, string entry, long offset)
    {
        for (int i = 0; i < count; i++)
        {
            var pair = pairs.Slice(i * 24, 24);
            // An empty pair ends the list.
            if (pair[0] == 0)
            {
                return;
            }
            if (!TarHeaderFields.TryParseNumeric(pair[..12], out long segmentOffset) || !TarHeaderFields.TryParseNumeric(pair[12..], out long length))
            {
                throw TarErrors.Invalid($"the old GNU sparse map of \"{entry}\" at byte offset {offset} has an invalid number", entry);
            }
            CheckCount(map.Count + 1L, limits, $"the sparse map of \"{entry}\"", offset, entry);
            map.Add(new TarSparseSegment(segmentOffset, length));
        }
    }

    /// <summary>
    /// Checks that the segments are in order, do not overlap, lie within the expanded size, and
    /// together hold exactly the stored data.
    /// </summary>
    public static void Validate(List<TarSparseSegment> map, long realSize, long storedData, string entry)
    {
        long previousEnd = 0;
        long total = 0;
        foreach (var segment in map)
        {
            if (segment.Offset < 0 || segment.Length < 0 || segment.Offset > long.MaxValue - segment.Length
                || segment.Offset < previousEnd || segment.End > realSize)
            {
                throw TarErrors.Invalid($"the sparse map of \"{entry}\" has an invalid segment (offset {segment.Offset}, length {segment.Length}) for a file of {realSize} bytes", entry);
            }
            previousEnd = segment.End;
            total += segment.Length;
        }
        if (total != storedData)
        {
            throw TarErrors.Invalid($"the sparse map of \"{entry}\" lists {total} bytes of data but the entry stores {storedData}", entry);
        }
    }

    private static void CheckCount(long count, TarReaderLimits limits, string what, long offset, string? entry = null)
    {
        if (count < 0 || count > limits.MaxSparseMapEntries)
        {
            throw TarErrors.LimitExceeded(nameof(limits.MaxSparseMapEntries), count, limits.MaxSparseMapEntries, what, offset, entry);
        }
    }

    /// <summary>Reads newline-terminated decimal numbers from whole 512-byte blocks of entry data.</summary>
    private sealed class DecimalLineReader(TarInput input, long storedSize, string entry)
    {
        private readonly byte[] _block = new byte[TarHeaderFields.BlockSize];
        private int _position = TarHeaderFields.BlockSize;

        public long BlocksTaken { get; private set; }

        public async ValueTask<long> NextAsync(CancellationToken cancellationToken)
        {
            long value = 0;
            int digits = 0;
            while (true)
            {
                if (_position == _block.Length)
                {
                    await NextBlockAsync(cancellationToken).ConfigureAwait(false);
                }
                byte b = _block[_position++];
                if (b == '\n' && digits > 0)
                {
                    return value;
                }
                if (b is < (byte)'0' or > (byte)'9' || value > (long.MaxValue - 9) / 10)
                {
                    throw TarErrors.Invalid($"the sparse map at the start of \"{entry}\" is malformed", entry);
                }
                value = value * 10 + (b - '0');
                digits++;
            }
        }

        private async ValueTask NextBlockAsync(CancellationToken cancellationToken)
        {
            if ((BlocksTaken + 1) * TarHeaderFields.BlockSize > storedSize)
            {
                throw TarErrors.Invalid($"the sparse map at the start of \"{entry}\" runs past the entry's data", entry);
            }
            if (!await input.ReadExactlyAsync(_block, cancellationToken).ConfigureAwait(false))
            {
                throw TarErrors.Truncated(input.Position, $"the sparse map of \"{entry}\"", entry);
            }
            BlocksTaken++;
            _position = 0;
        }
    }
}
