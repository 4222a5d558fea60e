using Microsoft.Win32.SafeHandles;

namespace Decant.Writers;

/// <summary>Writes whole 4 KiB blocks into an image (ext4, EROFS), joining writes to consecutive blocks into one call.</summary>
internal sealed class BlockWriter(SafeFileHandle file)
{
    /// <summary>The block size of the images written through this class.</summary>
    public const int BlockSize = 4096;

    private const int BufferBlocks = 256;
    private readonly byte[] _buffer = new byte[BufferBlocks * BlockSize];
    private long _start = -1;
    private int _blocks;

    public async ValueTask WriteAsync(long block, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        int count = data.Length / BlockSize;
        if (_blocks > 0 && (block != _start + _blocks || _blocks + count > BufferBlocks))
        {
            await FlushAsync(cancellationToken).ConfigureAwait(false);
        }
        if (count > BufferBlocks)
        {
            await RandomAccess.WriteAsync(file, data, block * BlockSize, cancellationToken).ConfigureAwait(false);
            return;
        }
        if (_blocks == 0)
        {
            _start = block;
        }
        data.CopyTo(_buffer.AsMemory(_blocks * BlockSize));
        _blocks += count;
    }

    public async ValueTask FlushAsync(CancellationToken cancellationToken)
    {
        if (_blocks > 0)
        {
            await RandomAccess.WriteAsync(file, _buffer.AsMemory(0, _blocks * BlockSize), _start * BlockSize, cancellationToken).ConfigureAwait(false);
            _blocks = 0;
        }
    }
}
