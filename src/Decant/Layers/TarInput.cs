namespace Decant.Layers;

/// <summary>
/// The buffered, forward-only byte source under <see cref="LayerTarReader"/>. Headers are parsed in
/// place from the buffer; large content reads go straight from the stream into the caller's
/// buffer. Tracks how many bytes were taken from the stream and how many the parser consumed.
/// </summary>
internal sealed class TarInput
{
    private const int BufferSize = 64 * 1024;
    // Content reads at least this large bypass the buffer.
    private const int DirectReadThreshold = 16 * 1024;

    private readonly Stream _stream;
    private readonly byte[] _buffer = new byte[BufferSize];
    private int _start;
    private int _end;
    private bool _endOfStream;

    public TarInput(Stream stream)
    {
        _stream = stream;
    }

    /// <summary>How many bytes were taken from the underlying stream.</summary>
    public long BytesRead { get; private set; }

    /// <summary>How many bytes of the archive the parser has consumed (its offset in the archive).</summary>
    public long Position => BytesRead - (_end - _start);

    private int Buffered => _end - _start;

    /// <summary>
    /// Makes <paramref name="count"/> bytes (at most the buffer's size) available to
    /// <see cref="Peek"/>; returns how many are available, fewer only at the end of the stream.
    /// </summary>
    public async ValueTask<int> EnsureAsync(int count, CancellationToken cancellationToken)
    {
        while (Buffered < count && !_endOfStream)
        {
            if (_buffer.Length - _start < count)
            {
                _buffer.AsSpan(_start, Buffered).CopyTo(_buffer);
                _end = Buffered;
                _start = 0;
            }
            int read = await _stream.ReadAsync(_buffer.AsMemory(_end), cancellationToken).ConfigureAwait(false);
            Advance(read);
        }
        return Math.Min(Buffered, count);
    }

    /// <summary>The next <paramref name="count"/> buffered bytes, which <see cref="EnsureAsync"/> made available.</summary>
    public ReadOnlySpan<byte> Peek(int count) => _buffer.AsSpan(_start, count);

    /// <summary>Marks <paramref name="count"/> buffered bytes as consumed.</summary>
    public void Consume(int count)
    {
        _start += count;
        if (_start == _end)
        {
            _start = _end = 0;
        }
    }

    /// <summary>Reads up to <c>destination.Length</c> bytes; returns 0 only at the end of the stream.</summary>
    public async ValueTask<int> ReadAsync(Memory<byte> destination, CancellationToken cancellationToken)
    {
        if (Buffered > 0)
        {
            return TakeBuffered(destination.Span);
        }
        if (_endOfStream || destination.IsEmpty)
        {
            return 0;
        }
        if (destination.Length >= DirectReadThreshold)
        {
            int direct = await _stream.ReadAsync(destination, cancellationToken).ConfigureAwait(false);
            CountRead(direct);
            return direct;
        }
        int read = await _stream.ReadAsync(_buffer, cancellationToken).ConfigureAwait(false);
        _start = _end = 0;
        Advance(read);
        return TakeBuffered(destination.Span);
    }

    /// <summary>The synchronous twin of <see cref="ReadAsync"/>, for callers of <see cref="Stream.Read(Span{byte})"/>.</summary>
    public int Read(Span<byte> destination)
    {
        if (Buffered > 0)
        {
            return TakeBuffered(destination);
        }
        if (_endOfStream || destination.IsEmpty)
        {
            return 0;
        }
        if (destination.Length >= DirectReadThreshold)
        {
            int direct = _stream.Read(destination);
            CountRead(direct);
            return direct;
        }
        int read = _stream.Read(_buffer);
        _start = _end = 0;
        Advance(read);
        return TakeBuffered(destination);
    }

    /// <summary>Reads exactly <c>destination.Length</c> bytes; false if the stream ends first.</summary>
    public async ValueTask<bool> ReadExactlyAsync(Memory<byte> destination, CancellationToken cancellationToken)
    {
        while (!destination.IsEmpty)
        {
            int read = await ReadAsync(destination, cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                return false;
            }
            destination = destination[read..];
        }
        return true;
    }

    /// <summary>Consumes and discards <paramref name="count"/> bytes; false if the stream ends first.</summary>
    public async ValueTask<bool> SkipAsync(long count, CancellationToken cancellationToken)
    {
        while (count > 0)
        {
            if (Buffered == 0)
            {
                if (_endOfStream)
                {
                    return false;
                }
                if (_stream is ISkippableStream skippable && skippable.Skip(count) is > 0 and var passed)
                {
                    BytesRead += passed;
                    count -= passed;
                    continue;
                }
                _start = _end = 0;
                int read = await _stream.ReadAsync(_buffer, cancellationToken).ConfigureAwait(false);
                Advance(read);
                continue;
            }
            int skipped = (int)Math.Min(count, Buffered);
            Consume(skipped);
            count -= skipped;
        }
        return true;
    }

    /// <summary>Reads the stream to its end, discarding everything.</summary>
    public async ValueTask DrainAsync(CancellationToken cancellationToken)
    {
        _start = _end = 0;
        while (!_endOfStream)
        {
            int read = await _stream.ReadAsync(_buffer, cancellationToken).ConfigureAwait(false);
            Advance(read);
            _start = _end = 0;
        }
    }

    /// <summary>Records a read that landed in the buffer after <c>_end</c>.</summary>
    private void Advance(int read)
    {
        CountRead(read);
        _end += read;
    }

    /// <summary>Records a read from the stream, wherever it landed.</summary>
    private void CountRead(int read)
    {
        if (read == 0)
        {
            _endOfStream = true;
        }
        BytesRead += read;
    }

    private int TakeBuffered(Span<byte> destination)
    {
        int count = Math.Min(destination.Length, Buffered);
        _buffer.AsSpan(_start, count).CopyTo(destination);
        Consume(count);
        return count;
    }
}
