using System.Threading.Channels;

namespace Decant.Blobs;

/// <summary>
/// Reads its inner stream on another task, a few chunks ahead of the caller, so the inner stream's
/// work (decompression) runs on one core while the caller's (hashing, parsing, writing) runs on
/// another. Memory is bounded: a fixed set of chunks circulates between the two. Given a condition,
/// it reads through (the caller's own reads, no buffers) until the condition holds at one of its
/// reads (a core has become free), and ahead from there to the end.
/// </summary>
internal sealed class ReadAheadStream : ReadOnlyStream
{
    private const int ChunkCount = 4;
    private const int ChunkSize = 256 << 10;
    private readonly Stream _inner;
    private readonly Channel<(byte[] Buffer, int Length)> _filled = Channel.CreateUnbounded<(byte[], int)>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
    private readonly Channel<byte[]> _free = Channel.CreateUnbounded<byte[]>();
    private readonly CancellationTokenSource _stop = new();
    private readonly Func<bool>? _startWhen;
    private Task? _producer;
    private (byte[] Buffer, int Length, int Offset) _current;
    private bool _ended;
    private bool _disposed;

    /// <summary>A stream reading <paramref name="inner"/> ahead from the start, or, given <paramref name="startWhen"/>, from the first read at which it returns true.</summary>
    public ReadAheadStream(Stream inner, Func<bool>? startWhen = null)
    {
        _inner = inner;
        _startWhen = startWhen;
        if (startWhen is null)
        {
            Start();
        }
    }

    /// <summary>Whether the stream reads ahead (it has started to).</summary>
    public bool IsReadingAhead => _producer is not null;

    private void Start()
    {
        for (int i = 0; i < ChunkCount; i++)
        {
            _free.Writer.TryWrite(new byte[ChunkSize]);
        }
        _producer = Task.Run(ProduceAsync);
    }

    private async Task ProduceAsync()
    {
        try
        {
            while (true)
            {
                byte[] chunk = await _free.Reader.ReadAsync(_stop.Token).ConfigureAwait(false);
                int read = await _inner.ReadAtLeastAsync(chunk, chunk.Length, throwOnEndOfStream: false, _stop.Token).ConfigureAwait(false);
                if (read == 0)
                {
                    break;
                }
                _filled.Writer.TryWrite((chunk, read));
            }
            _filled.Writer.TryComplete();
        }
        catch (Exception error) when (error is not OutOfMemoryException)
        {
            // The reader sees the inner stream's failure (or the cancellation) at its next read.
            _filled.Writer.TryComplete(error);
        }
    }

    public override int Read(Span<byte> buffer) =>
        throw new NotSupportedException("layer streams are read asynchronously");

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (buffer.IsEmpty || _ended)
        {
            return 0;
        }
        if (_producer is null)
        {
            if (!_startWhen!())
            {
                return await _inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
            }
            // Nothing is buffered while reading through: the producer goes on where the caller stopped.
            Start();
        }
        if (_current.Buffer is null || _current.Offset == _current.Length)
        {
            if (_current.Buffer is not null)
            {
                _free.Writer.TryWrite(_current.Buffer);
                _current = default;
            }
            if (!await _filled.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                _ended = true;
                return 0;
            }
            var (chunk, length) = await _filled.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            _current = (chunk, length, 0);
        }
        int count = Math.Min(buffer.Length, _current.Length - _current.Offset);
        _current.Buffer.AsSpan(_current.Offset, count).CopyTo(buffer.Span);
        _current.Offset += count;
        return count;
    }

    public override async ValueTask DisposeAsync()
    {
        if (!_disposed)
        {
            _disposed = true;
            await _stop.CancelAsync().ConfigureAwait(false);
            try
            {
                if (_producer is not null)
                {
                    await _producer.ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException)
            {
                // Stopped on purpose.
            }
            await _inner.DisposeAsync().ConfigureAwait(false);
            _stop.Dispose();
        }
        await base.DisposeAsync().ConfigureAwait(false);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && !_disposed)
        {
            // Synchronous disposal cannot wait for the producer: cancel it and leave the token
            // source to the GC, since the producer may still be observing it.
            _disposed = true;
            _stop.Cancel();
            _inner.Dispose();
        }
        base.Dispose(disposing);
    }
}
