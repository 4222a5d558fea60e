using Microsoft.Win32.SafeHandles;

namespace Decant.Writers.Ext4;

/// <summary>Writes whole blocks into the image, joining writes to consecutive blocks into one call.</summary>
internal sealed class BlockWriter(SafeFileHandle file)
{
    private const int BufferBlocks = 256;
    private readonly byte[] _buffer = new byte[BufferBlocks * Ext4Constants.BlockSize];
    private long _start = -1;
    private int _blocks;

    public async ValueTask WriteAsync(long block, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        int count = data.Length / Ext4Constants.BlockSize;
        if (_blocks > 0 && (block != _start + _blocks || _blocks + count > BufferBlocks))
        {
            await FlushAsync(cancellationToken).ConfigureAwait(false);
        }
        if (count > BufferBlocks)
        {
            await RandomAccess.WriteAsync(file, data, block * Ext4Constants.BlockSize, cancellationToken).ConfigureAwait(false);
            return;
        }
        if (_blocks == 0)
        {
            _start = block;
        }
        data.CopyTo(_buffer.AsMemory(_blocks * Ext4Constants.BlockSize));
        _blocks += count;
    }

    public async ValueTask FlushAsync(CancellationToken cancellationToken)
    {
        if (_blocks > 0)
        {
            await RandomAccess.WriteAsync(file, _buffer.AsMemory(0, _blocks * Ext4Constants.BlockSize), _start * Ext4Constants.BlockSize, cancellationToken).ConfigureAwait(false);
            _blocks = 0;
        }
    }
}
