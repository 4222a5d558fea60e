namespace Decant.Blobs;

/// <summary>
/// A read-only, forward-only stream that yields bytes already peeked from a source, then the rest
/// of the source, then an optional suffix. Lets detection peek without a seekable source.
/// </summary>
internal sealed class DecompressPrefixStream : Stream
{
    private readonly Stream _source;
    private readonly bool _leaveOpen;
    private ReadOnlyMemory<byte> _prefix;
    private ReadOnlyMemory<byte> _suffix;
    private bool _sourceDone;

    public DecompressPrefixStream(ReadOnlyMemory<byte> prefix, Stream source, ReadOnlyMemory<byte> suffix, bool leaveOpen)
    {
        _prefix = prefix;
        _source = source;
        _suffix = suffix;
        _leaveOpen = leaveOpen;
    }

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        if (buffer.IsEmpty)
        {
            return 0;
        }
        if (!_prefix.IsEmpty)
        {
            return Take(ref _prefix, buffer);
        }
        if (!_sourceDone)
        {
            int read = _source.Read(buffer);
            if (read > 0)
            {
                return read;
            }
            _sourceDone = true;
        }
        return Take(ref _suffix, buffer);
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (buffer.IsEmpty)
        {
            return 0;
        }
        if (!_prefix.IsEmpty)
        {
            return Take(ref _prefix, buffer.Span);
        }
        if (!_sourceDone)
        {
            int read = await _source.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
            if (read > 0)
            {
                return read;
            }
            _sourceDone = true;
        }
        return Take(ref _suffix, buffer.Span);
    }

    private static int Take(ref ReadOnlyMemory<byte> pending, Span<byte> buffer)
    {
        int count = Math.Min(pending.Length, buffer.Length);
        pending.Span[..count].CopyTo(buffer);
        pending = pending[count..];
        return count;
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

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
