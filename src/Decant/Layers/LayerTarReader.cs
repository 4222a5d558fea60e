using System.Buffers;
using Decant.Model;

namespace Decant.Layers;

/// <summary>
/// A streaming reader for container layer tars: ustar, POSIX PAX, GNU and old v7 formats, with
/// PAX and GNU long-name records folded into the entry that follows them, PAX global headers
/// ignored, and GNU sparse files (PAX 0.0, 0.1, 1.0 and old GNU 'S') expanded with their holes
/// as zeros. The source is read forward only; memory stays bounded by <see cref="TarReaderLimits"/>
/// whatever the input. Failures are <see cref="DecantException"/>s naming the byte offset or entry.
/// </summary>
/// <remarks>
/// As in Go's archive/tar, which the other image tools use, entries other than regular files carry
/// no data: their size field is ignored and reported as 0. Names are byte strings, kept exactly
/// in their lossless string form (see <see cref="TarText"/> and <see cref="Model.NameBytes"/>).
/// </remarks>
internal sealed partial class LayerTarReader
{
    private readonly TarInput _input;
    private readonly TarReaderLimits _limits;
    private readonly TarPendingMetadata _pending = new();
    private TarHeader? _current;
    private bool _ended;

    /// <summary>Reads the tar archive in <paramref name="stream"/>, which the reader does not dispose.</summary>
    public LayerTarReader(Stream stream, TarReaderLimits? limits = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        _input = new TarInput(stream);
        _limits = limits ?? TarReaderLimits.Default;
    }

    /// <summary>How many bytes were taken from the underlying stream so far.</summary>
    public long BytesRead => _input.BytesRead;

    /// <summary>
    /// Moves to the next entry, skipping whatever of the current entry's data was not read. Returns
    /// null at the end of the archive: two zero blocks, one zero block and the end of the stream,
    /// or the end of the stream at a block boundary (a missing end marker is tolerated, as GNU tar does).
    /// </summary>
    public async ValueTask<TarHeader?> ReadNextAsync(CancellationToken cancellationToken)
    {
        if (_ended)
        {
            return null;
        }
        await SkipRestOfEntryAsync(cancellationToken).ConfigureAwait(false);
        if (_ended)
        {
            return null;
        }
        _pending.Clear();
        while (true)
        {
            long offset = _input.Position;
            int available = await _input.EnsureAsync(TarHeaderFields.BlockSize, cancellationToken).ConfigureAwait(false);
            if (available == 0)
            {
                if (_pending.Any)
                {
                    throw TarErrors.Truncated(offset, "an entry: the archive ends after an extended header");
                }
                _ended = true;
                return null;
            }
            if (available < TarHeaderFields.BlockSize)
            {
                throw TarErrors.Truncated(offset + available, $"the tar header at byte offset {offset}");
            }
            var (type, size, isEndMarker) = CheckHeaderBlock(_input.Peek(TarHeaderFields.BlockSize), offset);
            if (isEndMarker)
            {
                _input.Consume(TarHeaderFields.BlockSize);
                await ReadEndOfArchiveAsync(offset, cancellationToken).ConfigureAwait(false);
                return null;
            }
            // Names of metadata headers are decoded only for messages; a real entry decodes its own.
            string headerName = type is (byte)'x' or (byte)'g' or (byte)'L' or (byte)'K'
                ? TarText.DecodeField(_input.Peek(TarHeaderFields.BlockSize)[TarHeaderFields.Name])
                : "";
            switch (type)
            {
                case (byte)'x':
                    _input.Consume(TarHeaderFields.BlockSize);
                    await ReadPaxHeaderAsync(size, headerName, offset, cancellationToken).ConfigureAwait(false);
                    continue;
                case (byte)'g':
                    _input.Consume(TarHeaderFields.BlockSize);
                    await SkipMetadataAsync(size, headerName, offset, cancellationToken).ConfigureAwait(false);
                    continue;
                case (byte)'L':
                case (byte)'K':
                    _input.Consume(TarHeaderFields.BlockSize);
                    await ReadLongNameAsync(type, size, headerName, offset, cancellationToken).ConfigureAwait(false);
                    continue;
            }
            _current = await ReadEntryAsync(type, offset, cancellationToken).ConfigureAwait(false);
            return _current;
        }
    }

    /// <summary>
    /// Reads the rest of the underlying stream (end-of-archive blocks, padding, anything after), so
    /// a hashing wrapper under the reader sees every byte. No more entries are returned afterwards.
    /// </summary>
    public async ValueTask DrainAsync(CancellationToken cancellationToken)
    {
        _ended = true;
        EndCurrentEntry();
        await _input.DrainAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Checks a header block: end marker, checksum, and size field. Returns the type flag, the size
    /// field, and whether the block is a zero (end-of-archive) block.
    /// </summary>
    private static (byte Type, long Size, bool IsEndMarker) CheckHeaderBlock(ReadOnlySpan<byte> block, long offset)
    {
        if (TarHeaderFields.IsZeroBlock(block))
        {
            return (0, 0, true);
        }
        if (!TarHeaderFields.ChecksumMatches(block, out long stored, out long computed))
        {
            throw TarErrors.Invalid($"the tar header at byte offset {offset} has a bad checksum (stored {stored}, computed {computed}): not a tar archive, or corrupt");
        }
        if (!TarHeaderFields.TryParseNumeric(block[TarHeaderFields.Size], out long size) || size < 0)
        {
            throw TarErrors.Invalid($"the tar header at byte offset {offset} has an invalid size field", TarText.DecodeField(block[TarHeaderFields.Name]));
        }
        return (block[TarHeaderFields.TypeFlag], size, false);
    }

    /// <summary>After a first zero block: a second one (or the end of the stream) ends the archive.</summary>
    private async ValueTask ReadEndOfArchiveAsync(long offset, CancellationToken cancellationToken)
    {
        if (_pending.Any)
        {
            throw TarErrors.Invalid($"the tar archive ends at byte offset {offset} right after an extended header, without its entry");
        }
        _ended = true;
        int available = await _input.EnsureAsync(TarHeaderFields.BlockSize, cancellationToken).ConfigureAwait(false);
        if (_input.Peek(available).ContainsAnyExcept((byte)0))
        {
            throw TarErrors.Invalid($"the zero block at byte offset {offset} is followed by a non-zero block: a corrupt archive or an end marker in the middle");
        }
        _input.Consume(available);
    }

    private async ValueTask ReadPaxHeaderAsync(long size, string headerName, long offset, CancellationToken cancellationToken)
    {
        long total = _pending.PaxBytes + size;
        if (total > _limits.MaxPaxHeaderBytes)
        {
            throw TarErrors.LimitExceeded(nameof(TarReaderLimits.MaxPaxHeaderBytes), total, _limits.MaxPaxHeaderBytes, $"the PAX extended header \"{headerName}\"", offset, headerName);
        }
        byte[] records = await ReadMetadataAsync((int)size, headerName, offset, cancellationToken).ConfigureAwait(false);
        try
        {
            TarPaxRecords.Parse(records.AsSpan(0, (int)size), _pending, _limits, offset);
        }
        catch (DecantException error) when (error.Entry is null)
        {
            throw new DecantException(error.Kind, error.Message, error.InnerException) { Entry = headerName };
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(records);
        }
        _pending.PaxBytes = total;
        _pending.Any = true;
    }

    private async ValueTask ReadLongNameAsync(byte type, long size, string headerName, long offset, CancellationToken cancellationToken)
    {
        string what = type == 'L' ? "GNU long name" : "GNU long link name";
        if (size > _limits.MaxLongNameBytes)
        {
            throw TarErrors.LimitExceeded(nameof(TarReaderLimits.MaxLongNameBytes), size, _limits.MaxLongNameBytes, $"the {what} \"{headerName}\"", offset, headerName);
        }
        byte[] data = await ReadMetadataAsync((int)size, headerName, offset, cancellationToken).ConfigureAwait(false);
        string name = TarText.DecodeField(data.AsSpan(0, (int)size));
        ArrayPool<byte>.Shared.Return(data);
        if (type == 'L')
        {
            _pending.LongName = name;
        }
        else
        {
            _pending.LongLinkName = name;
        }
        _pending.Any = true;
    }

    /// <summary>Reads a metadata entry's data (already bounded by a limit) and its padding into a rented array.</summary>
    private async ValueTask<byte[]> ReadMetadataAsync(int size, string headerName, long offset, CancellationToken cancellationToken)
    {
        byte[] data = ArrayPool<byte>.Shared.Rent(Math.Max(size, 1));
        if (!await _input.ReadExactlyAsync(data.AsMemory(0, size), cancellationToken).ConfigureAwait(false)
            || !await _input.SkipAsync(Padding(size), cancellationToken).ConfigureAwait(false))
        {
            ArrayPool<byte>.Shared.Return(data);
            throw TarErrors.Truncated(_input.Position, $"the data of the header \"{headerName}\" at byte offset {offset}", headerName);
        }
        return data;
    }

    private async ValueTask SkipMetadataAsync(long size, string headerName, long offset, CancellationToken cancellationToken)
    {
        if (!await _input.SkipAsync(size + Padding(size), cancellationToken).ConfigureAwait(false))
        {
            throw TarErrors.Truncated(_input.Position, $"the data of the header \"{headerName}\" at byte offset {offset}", headerName);
        }
    }

    /// <summary>How many padding bytes follow <paramref name="size"/> bytes of data to reach a block boundary.</summary>
    internal static int Padding(long size) => (int)((TarHeaderFields.BlockSize - (size % TarHeaderFields.BlockSize)) % TarHeaderFields.BlockSize);
}
