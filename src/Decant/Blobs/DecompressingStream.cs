using System.Buffers;
using Decant.Model;

namespace Decant.Blobs;

/// <summary>
/// The decompressed content of a layer blob: read-only and forward-only. Decoder failures
/// (corrupt or truncated data) surface as <see cref="DecantException"/> of kind
/// <see cref="DecantErrorKind.InvalidLayer"/> instead of the decoders' own exception types.
/// </summary>
internal sealed class DecompressingStream : ReadOnlyStream
{
    private readonly Stream _decoder;
    // For gzip only: the compressed side, to measure what follows the last member.
    private readonly DecompressPrefixStream? _gzipSource;
    // For gzip only: the last output bytes, held back until the end to check the sentinel.
    private readonly byte[]? _held;
    private int _heldCount;
    private bool _ended;

    private DecompressingStream(Stream decoder, LayerCompression compression, bool checkGzipEnd, DecompressPrefixStream? gzipSource = null)
    {
        _decoder = decoder;
        _gzipSource = gzipSource;
        Compression = compression;
        _held = checkGzipEnd ? new byte[DecompressGzipEndCheck.SentinelContent.Length] : null;
    }

    internal static DecompressingStream ForGzip(DecompressPrefixStream sourceWithSentinel) =>
        new(Decompression.CreateGzipDecoder(sourceWithSentinel), LayerCompression.Gzip, checkGzipEnd: true, sourceWithSentinel);

    /// <summary>A gzip blob inflated by ISA-L, which checks the members' ends and what follows them itself.</summary>
    internal static DecompressingStream ForIsalGzip(IsalGzipStream decoder) => new(decoder, LayerCompression.Gzip, checkGzipEnd: false);

    internal static DecompressingStream ForZstd(Stream decoder) => new(decoder, LayerCompression.Zstd, checkGzipEnd: false);

    internal static DecompressingStream ForUncompressed(Stream source) => new(source, LayerCompression.None, checkGzipEnd: false);

    /// <summary>The compression detected from the blob's magic bytes.</summary>
    public LayerCompression Compression { get; }

    /// <summary>How many decompressed bytes have been returned to the reader so far.</summary>
    public long BytesDecompressed { get; private set; }

    /// <inheritdoc/>
    /// <exception cref="DecantException">The compressed data is corrupt or truncated (<see cref="DecantErrorKind.InvalidLayer"/>).</exception>
    public override int Read(Span<byte> buffer)
    {
        if (buffer.IsEmpty || _ended)
        {
            return 0;
        }
        try
        {
            if (_held is null)
            {
                return Count(_decoder.Read(buffer));
            }
            while (true)
            {
                var (scratch, target) = PrepareHeldRead(buffer.Length);
                Span<byte> destination = scratch is null ? buffer : scratch;
                _held.AsSpan(0, _heldCount).CopyTo(destination);
                int read = _decoder.Read(destination[_heldCount..target]);
                int delivered = SettleHeldRead(destination, read, buffer, scratch);
                if (delivered < 0)
                {
                    throw TrailingData(_gzipSource!.MeasureTrailing(BytesDecompressed + _heldCount));
                }
                if (delivered != 0 || _ended)
                {
                    return Count(delivered);
                }
            }
        }
        catch (Exception e) when (TranslateDecoderError(e) is { } error)
        {
            throw error;
        }
    }

    /// <inheritdoc/>
    /// <exception cref="DecantException">The compressed data is corrupt or truncated (<see cref="DecantErrorKind.InvalidLayer"/>).</exception>
    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (buffer.IsEmpty || _ended)
        {
            return 0;
        }
        try
        {
            if (_held is null)
            {
                return Count(await _decoder.ReadAsync(buffer, cancellationToken).ConfigureAwait(false));
            }
            while (true)
            {
                var (scratch, target) = PrepareHeldRead(buffer.Length);
                Memory<byte> destination = scratch is null ? buffer : scratch;
                _held.AsSpan(0, _heldCount).CopyTo(destination.Span);
                int read = await _decoder.ReadAsync(destination[_heldCount..target], cancellationToken).ConfigureAwait(false);
                int delivered = SettleHeldRead(destination.Span, read, buffer.Span, scratch);
                if (delivered < 0)
                {
                    throw TrailingData(await _gzipSource!.MeasureTrailingAsync(BytesDecompressed + _heldCount, cancellationToken).ConfigureAwait(false));
                }
                if (delivered != 0 || _ended)
                {
                    return Count(delivered);
                }
            }
        }
        catch (Exception e) when (TranslateDecoderError(e) is { } error)
        {
            throw error;
        }
    }

    private int Count(int read)
    {
        BytesDecompressed += read;
        return read;
    }

    /// <summary>
    /// Chooses where a held-back read lands: in the caller's buffer when it has room for the held
    /// bytes plus more, else in a rented scratch buffer. Returns the scratch (or null) and the end of
    /// the usable destination; either way no more than the caller's buffer length is delivered.
    /// </summary>
    private (byte[]? Scratch, int Target) PrepareHeldRead(int bufferLength)
    {
        if (bufferLength > _held!.Length)
        {
            return (null, bufferLength);
        }
        int target = _heldCount + bufferLength;
        return (ArrayPool<byte>.Shared.Rent(target), target);
    }

    /// <summary>
    /// After a decoder read into <paramref name="destination"/> (which starts with the held bytes),
    /// keeps the last bytes held back and returns how many bytes the caller receives. At the end of
    /// the decoder's output, checks that the held bytes are exactly the sentinel content; -1 says
    /// they are not (data that is not a gzip member follows the last one).
    /// </summary>
    private int SettleHeldRead(Span<byte> destination, int read, Span<byte> callerBuffer, byte[]? scratch)
    {
        try
        {
            byte[] held = _held!;
            if (read == 0)
            {
                if (!held.AsSpan(0, _heldCount).SequenceEqual(DecompressGzipEndCheck.SentinelContent.Span))
                {
                    // The decoder ended cleanly without reaching the sentinel: what follows the last
                    // member is not a gzip member. (A member cut short fails inside the decoder.)
                    _ended = true;
                    return -1;
                }
                _ended = true;
                return 0;
            }
            int total = _heldCount + read;
            int deliverable = Math.Max(0, total - held.Length);
            int keep = total - deliverable;
            if (scratch is not null)
            {
                destination[..deliverable].CopyTo(callerBuffer);
            }
            destination.Slice(deliverable, keep).CopyTo(held);
            _heldCount = keep;
            return deliverable;
        }
        finally
        {
            if (scratch is not null)
            {
                ArrayPool<byte>.Shared.Return(scratch);
            }
        }
    }

    private static DecantException? TranslateDecoderError(Exception error) => error switch
    {
        DecantException => null,
        OperationCanceledException => null,
        InvalidDataException => Corrupt(LayerCompression.Gzip, error.Message, error),
        ZstdSharp.ZstdException => Corrupt(LayerCompression.Zstd, error.Message, error),
        EndOfStreamException => Corrupt(LayerCompression.Zstd, "the stream ends before its last zstd frame is complete", error),
        _ => null,
    };

    internal static DecantException TrailingData((long Bytes, bool AllZero, bool Exact) trailing)
    {
        string count = trailing.Exact || trailing.Bytes > 0
            ? $"{(trailing.Exact ? "" : "at least ")}{trailing.Bytes} byte{(trailing.Bytes == 1 ? "" : "s")}"
            : "some bytes";
        return new DecantException(DecantErrorKind.InvalidLayer,
            $"the layer's gzip stream has {count} of trailing data{(trailing.AllZero ? " (all zeros)" : "")} after its last gzip member");
    }

    internal static DecantException Corrupt(LayerCompression compression, string detail, Exception? inner)
    {
        string name = compression == LayerCompression.Gzip ? "gzip" : "zstd";
        return new DecantException(DecantErrorKind.InvalidLayer, $"the layer's {name} stream is corrupt or truncated: {detail}", inner);
    }

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _decoder.Dispose();
        }
        base.Dispose(disposing);
    }

    /// <inheritdoc/>
    public override async ValueTask DisposeAsync()
    {
        await _decoder.DisposeAsync().ConfigureAwait(false);
        await base.DisposeAsync().ConfigureAwait(false);
    }
}
