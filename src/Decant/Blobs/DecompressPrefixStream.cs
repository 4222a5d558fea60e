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

    public DecompressPrefixStream(ReadOnlyMemory<byte> prefix, Stream source, ReadOnlyMemory<byte> suffix, bool leaveOpen, int bufferSize = 0)
    {
        _pending = prefix;
        _source = source;
        _suffix = suffix;
        _leaveOpen = leaveOpen;
        _buffer = bufferSize > 0 ? new byte[bufferSize] : null;
    }

    public override int Read(Span<byte> buffer)
    {
        while (!buffer.IsEmpty)
        {
            if (!_pending.IsEmpty)
            {
                return Take(ref _pending, buffer);
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
            return ValueTask.FromResult(Take(ref _pending, buffer.Span));
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
