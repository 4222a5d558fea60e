namespace Decant.Blobs;

/// <summary>
/// A read-only, forward-only stream that yields bytes already peeked from a source, then the rest
/// of the source, then an optional suffix. Lets detection peek without a seekable source. With a
/// buffer, the source is read in large chunks however small the reads made on this stream (a
/// decoder's input reads are small), and reads served from the buffer complete synchronously.
/// </summary>
internal sealed class DecompressPrefixStream : ReadOnlyStream
{
    private readonly Stream _source;
    private readonly bool _leaveOpen;
    private readonly byte[]? _buffer;
    private ReadOnlyMemory<byte> _pending;
    private ReadOnlyMemory<byte> _suffix;
    private bool _sourceDone;
    // The last bytes of prefix and source handed out, and how many there were in all: what
    // MeasureTrailing looks back over to find where the decoder's last member ended.
    private readonly byte[]? _window;
    private long _handedOut;
    private const int WindowSize = 64 * 1024;

    public DecompressPrefixStream(ReadOnlyMemory<byte> prefix, Stream source, ReadOnlyMemory<byte> suffix, bool leaveOpen, int bufferSize = 0)
    {
        _pending = prefix;
        _source = source;
        _suffix = suffix;
        _leaveOpen = leaveOpen;
        _buffer = bufferSize > 0 ? new byte[bufferSize] : null;
        _window = suffix.IsEmpty ? null : new byte[WindowSize];
    }

    public override int Read(Span<byte> buffer)
    {
        while (!buffer.IsEmpty)
        {
            if (!_pending.IsEmpty)
            {
                return TakeFromSource(ref _pending, buffer);
            }
            if (_sourceDone)
            {
                return Take(ref _suffix, buffer);
            }
            if (_buffer is null)
            {
                int direct = _source.Read(buffer);
                if (direct > 0)
                {
                    Remember(buffer[..direct]);
                    return direct;
                }
                _sourceDone = true;
                continue;
            }
            Refilled(_source.Read(_buffer));
        }
        return 0;
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (buffer.IsEmpty)
        {
            return ValueTask.FromResult(0);
        }
        if (!_pending.IsEmpty)
        {
            return ValueTask.FromResult(TakeFromSource(ref _pending, buffer.Span));
        }
        if (_sourceDone)
        {
            return ValueTask.FromResult(Take(ref _suffix, buffer.Span));
        }
        return ReadSourceAsync(buffer, cancellationToken);
    }

    private async ValueTask<int> ReadSourceAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        if (_buffer is null)
        {
            int direct = await _source.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
            if (direct > 0)
            {
                Remember(buffer.Span[..direct]);
                return direct;
            }
            _sourceDone = true;
        }
        else
        {
            Refilled(await _source.ReadAsync(_buffer, cancellationToken).ConfigureAwait(false));
        }
        return await ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
    }

    private void Refilled(int read)
    {
        if (read == 0)
        {
            _sourceDone = true;
        }
        _pending = _buffer.AsMemory(0, read);
    }

    private int TakeFromSource(ref ReadOnlyMemory<byte> pending, Span<byte> buffer)
    {
        int count = Take(ref pending, buffer);
        Remember(buffer[..count]);
        return count;
    }

    private void Remember(ReadOnlySpan<byte> bytes)
    {
        if (_window is null)
        {
            return;
        }
        if (bytes.Length > WindowSize)
        {
            _handedOut += bytes.Length - WindowSize;
            bytes = bytes[^WindowSize..];
        }
        int start = (int)(_handedOut % WindowSize);
        int first = Math.Min(bytes.Length, WindowSize - start);
        bytes[..first].CopyTo(_window.AsSpan(start));
        bytes[first..].CopyTo(_window);
        _handedOut += bytes.Length;
    }

    /// <summary>
    /// After the decoder stopped short of the suffix: reads the rest of the source and says how many
    /// bytes follow the end of the decoder's last member, and whether they are all zeros. The end is
    /// found as the gzip trailer whose ISIZE field is <paramref name="memberSize"/> (mod 2^32);
    /// when it is not in the window, the count is a lower bound (<c>Exact</c> false).
    /// </summary>
    public async ValueTask<(long Bytes, bool AllZero, bool Exact)> MeasureTrailingAsync(long memberSize, CancellationToken cancellationToken)
    {
        var rest = new RestCounter(_pending);
        _pending = ReadOnlyMemory<byte>.Empty;
        byte[] chunk = _buffer ?? new byte[Decompression.BufferSize];
        while (!_sourceDone)
        {
            _sourceDone = rest.Add(chunk, await _source.ReadAsync(chunk, cancellationToken).ConfigureAwait(false));
        }
        return Trailing(memberSize, rest.Bytes, rest.AllZero);
    }

    /// <summary>The synchronous <see cref="MeasureTrailingAsync"/>.</summary>
    public (long Bytes, bool AllZero, bool Exact) MeasureTrailing(long memberSize)
    {
        var rest = new RestCounter(_pending);
        _pending = ReadOnlyMemory<byte>.Empty;
        byte[] chunk = _buffer ?? new byte[Decompression.BufferSize];
        while (!_sourceDone)
        {
            _sourceDone = rest.Add(chunk, _source.Read(chunk));
        }
        return Trailing(memberSize, rest.Bytes, rest.AllZero);
    }

    /// <summary>Counts the bytes never handed out, and whether all of them are zeros.</summary>
    private sealed class RestCounter
    {
        public RestCounter(ReadOnlyMemory<byte> pending) => Add(pending.Span);

        public long Bytes { get; private set; }

        public bool AllZero { get; private set; } = true;

        /// <summary>Adds a chunk read from the source; true at its end.</summary>
        public bool Add(byte[] chunk, int read)
        {
            Add(chunk.AsSpan(0, read));
            return read == 0;
        }

        private void Add(ReadOnlySpan<byte> bytes)
        {
            Bytes += bytes.Length;
            AllZero &= !bytes.ContainsAnyExcept((byte)0);
        }
    }

    private (long Bytes, bool AllZero, bool Exact) Trailing(long memberSize, long unread, bool unreadZero)
    {
        uint isize = unchecked((uint)memberSize);
        long oldest = Math.Max(0, _handedOut - WindowSize);
        byte[] window = _window ?? [];
        if (window.Length == 0)
        {
            return (unread, unreadZero, false);
        }
        byte At(long position) => window[(int)(position % WindowSize)];
        // The latest end p at which the four bytes before it are the ISIZE: the member's last byte.
        for (long end = _handedOut; end - 4 >= oldest; end--)
        {
            if (At(end - 4) == (byte)isize && At(end - 3) == (byte)(isize >> 8) && At(end - 2) == (byte)(isize >> 16) && At(end - 1) == (byte)(isize >> 24))
            {
                bool zero = unreadZero;
                for (long i = end; i < _handedOut && zero; i++)
                {
                    zero = At(i) == 0;
                }
                return (_handedOut - end + unread, zero, true);
            }
        }
        return (unread, unreadZero, false);
    }

    private static int Take(ref ReadOnlyMemory<byte> pending, Span<byte> buffer)
    {
        int count = Math.Min(pending.Length, buffer.Length);
        pending.Span[..count].CopyTo(buffer);
        pending = pending[count..];
        return count;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && !_leaveOpen)
        {
            _source.Dispose();
        }
        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        if (!_leaveOpen)
        {
            await _source.DisposeAsync().ConfigureAwait(false);
        }
        await base.DisposeAsync().ConfigureAwait(false);
    }
}
