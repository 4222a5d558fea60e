using Microsoft.Win32.SafeHandles;

namespace Decant.Interop;

/// <summary>
/// Puts ranges of other files into one destination file: shared (<c>FICLONERANGE</c>) where the
/// filesystem can, else copied in the kernel (<see cref="KernelCopy.CopyRangeAsync"/>). Whether two
/// filesystems share blocks does not change from range to range, so a refusal is asked only once.
/// Thread-safe.
/// </summary>
internal sealed class RangeCloner(SafeFileHandle destination)
{
    private volatile bool _cannotReflink;

    /// <summary>
    /// Puts <paramref name="bytes"/> of <paramref name="source"/> at <paramref name="from"/> into the
    /// destination at <paramref name="at"/>; offsets and length are multiples of the block size.
    /// Says whether the blocks are shared rather than copied.
    /// </summary>
    public async ValueTask<bool> CloneOrCopyAsync(SafeFileHandle source, long from, long at, long bytes, CancellationToken cancellationToken)
    {
        if (!_cannotReflink && KernelCopy.TryCloneRange(source, from, destination, at, bytes))
        {
            return true;
        }
        _cannotReflink = true;
        await KernelCopy.CopyRangeAsync(source, from, destination, at, bytes, cancellationToken).ConfigureAwait(false);
        return false;
    }

    /// <summary>
    /// Blocks to move from <paramref name="source"/> (a spool, given up as it is moved) into the
    /// destination, gathered while they stay consecutive on both sides so that each run of them is one call.
    /// </summary>
    public BlockCopyBatch Batch(SafeFileHandle source, int blockSize) => new(this, source, blockSize);
}

/// <summary>
/// Blocks to move from one file into another, gathered while they stay consecutive on both sides (at
/// most 64 MiB a call). Each run, once in the destination, is punched out of the source: its
/// page-cache pages are freed for the next run's copy to reuse rather than fresh ones (in a VM whose
/// free memory goes back to the host a fresh page costs the host a fault), the move holds one copy's
/// worth of page cache, not two, and the source's disk space is given back as it goes.
/// </summary>
internal sealed class BlockCopyBatch(RangeCloner cloner, SafeFileHandle source, int blockSize)
{
    private readonly long _maxBlocks = (64L << 20) / blockSize;
    private long _from, _to, _blocks;

    /// <summary>Adds <paramref name="blocks"/> from block <paramref name="from"/> of the source to block <paramref name="to"/> of the destination.</summary>
    public async ValueTask AddAsync(long from, long to, long blocks, CancellationToken cancellationToken)
    {
        if (_blocks > 0 && (from != _from + _blocks || to != _to + _blocks || _blocks + blocks > _maxBlocks))
        {
            await FlushAsync(cancellationToken).ConfigureAwait(false);
        }
        if (_blocks == 0)
        {
            (_from, _to) = (from, to);
        }
        _blocks += blocks;
    }

    /// <summary>Moves every block gathered so far.</summary>
    public async ValueTask FlushAsync(CancellationToken cancellationToken)
    {
        if (_blocks > 0)
        {
            await cloner.CloneOrCopyAsync(source, _from * blockSize, _to * blockSize, _blocks * blockSize, cancellationToken).ConfigureAwait(false);
            HolePunch.TryRelease(source, _from * blockSize, _blocks * blockSize);
            _blocks = 0;
        }
    }
}
