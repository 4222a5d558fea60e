using Microsoft.Win32.SafeHandles;

namespace Decant.Writers.Erofs;

/// <summary>
/// Writes one region of the image front to back (the metadata area, the shared xattr area) through
/// two buffers: one fills while the other is written, so the writing overlaps the encoding.
/// Positions only grow, and the gaps between records are zeros. Not thread-safe.
/// </summary>
internal sealed class SequentialImageWriter(SafeFileHandle file, long regionStart)
{
    private const int BufferSize = 512 << 10;
    private byte[] _buffer = new byte[BufferSize];
    private byte[]? _spare;
    private Task _writing = Task.CompletedTask;
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
                await StartWritingAsync(cancellationToken).ConfigureAwait(false);
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
                await StartWritingAsync(cancellationToken).ConfigureAwait(false);
            }
            int take = Math.Min(data.Length, BufferSize - _buffered);
            data.Span[..take].CopyTo(_buffer.AsSpan(_buffered));
            _buffered += take;
            data = data[take..];
        }
    }

    /// <summary>Writes everything buffered and waits until it is written.</summary>
    public async ValueTask FlushAsync(CancellationToken cancellationToken)
    {
        await StartWritingAsync(cancellationToken).ConfigureAwait(false);
        await _writing.ConfigureAwait(false);
        _writing = Task.CompletedTask;
    }

    /// <summary>Waits for the write before, then starts writing the filled buffer and goes on in the other.</summary>
    private async ValueTask StartWritingAsync(CancellationToken cancellationToken)
    {
        await _writing.ConfigureAwait(false);
        _writing = Task.CompletedTask;
        if (_buffered == 0)
        {
            return;
        }
        _writing = RandomAccess.WriteAsync(file, _buffer.AsMemory(0, _buffered), regionStart + _flushed, cancellationToken).AsTask();
        _flushed += _buffered;
        _buffered = 0;
        (_buffer, _spare) = (_spare ?? new byte[BufferSize], _buffer);
    }
}
