using Microsoft.Win32.SafeHandles;

namespace Decant.Writers.Erofs;

/// <summary>
/// Writes one region of the image front to back (the metadata area, the shared xattr area) through
/// a buffer: positions only grow, and the gaps between records are zeros.
/// </summary>
internal sealed class SequentialImageWriter(SafeFileHandle file, long regionStart)
{
    private const int BufferSize = 1 << 20;
    private readonly byte[] _buffer = new byte[BufferSize];
    private long _flushed;
    private int _buffered;

    /// <summary>The next byte's position in the region.</summary>
    public long Position => _flushed + _buffered;

    /// <summary>Zeros up to <paramref name="position"/> (not behind the current position).</summary>
    public async ValueTask PadToAsync(long position, CancellationToken cancellationToken)
    {
        while (Position < position)
        {
            if (_buffered == BufferSize)
            {
                await FlushAsync(cancellationToken).ConfigureAwait(false);
            }
            int zeros = (int)Math.Min(position - Position, BufferSize - _buffered);
            _buffer.AsSpan(_buffered, zeros).Clear();
            _buffered += zeros;
        }
    }

    public async ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        while (data.Length > 0)
        {
            if (_buffered == BufferSize)
            {
                await FlushAsync(cancellationToken).ConfigureAwait(false);
            }
            int take = Math.Min(data.Length, BufferSize - _buffered);
            data.Span[..take].CopyTo(_buffer.AsSpan(_buffered));
            _buffered += take;
            data = data[take..];
        }
    }

    public async ValueTask FlushAsync(CancellationToken cancellationToken)
    {
        if (_buffered > 0)
        {
            await RandomAccess.WriteAsync(file, _buffer.AsMemory(0, _buffered), regionStart + _flushed, cancellationToken).ConfigureAwait(false);
            _flushed += _buffered;
            _buffered = 0;
        }
    }
}
