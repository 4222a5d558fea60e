using Microsoft.Win32.SafeHandles;

namespace Decant.Interop;

/// <summary>
/// Gives ranges of one file back to the filesystem in few calls: released ranges are gathered, and
/// once <c>flushBytes</c> of them are pending they are sorted, those side by side joined, and each
/// run punched out with one call (<see cref="HolePunch.TryRelease"/>). A punch costs about the same
/// whatever its length (the journal, the extent tree, the page cache's lookup), so a spool copied
/// out in many small pieces was spending a sixth of the time it took to copy them on punching.
/// At most <c>flushBytes</c> released are held back at any time. Thread-safe.
/// </summary>
/// <param name="file">The file whose ranges are given back.</param>
/// <param name="blockSize">The granularity ranges are reserved in: each range's end is rounded up to it, so neighbours join.</param>
/// <param name="flushBytes">How much is gathered before it is punched.</param>
internal sealed class BatchedHolePunch(SafeFileHandle file, long blockSize, long flushBytes)
{
    private readonly Lock _lock = new();
    private List<(long Start, long Stop)> _pending = [];
    private long _pendingBytes;

    /// <summary>The file whose ranges this gives back.</summary>
    public SafeFileHandle File => file;

    /// <summary>Releases <paramref name="length"/> bytes at <paramref name="offset"/> (and the rest of their last block), punching what is pending once enough is.</summary>
    public void Release(long offset, long length)
    {
        if (length <= 0)
        {
            return;
        }
        long stop = (offset + length + blockSize - 1) / blockSize * blockSize;
        List<(long Start, long Stop)>? due = null;
        lock (_lock)
        {
            _pending.Add((offset, stop));
            _pendingBytes += stop - offset;
            if (_pendingBytes >= flushBytes)
            {
                due = _pending;
                _pending = [];
                _pendingBytes = 0;
            }
        }
        if (due is not null)
        {
            Punch(due);
        }
    }

    private void Punch(List<(long Start, long Stop)> ranges)
    {
        if (ranges.Count == 0)
        {
            return;
        }
        ranges.Sort(static (a, b) => a.Start.CompareTo(b.Start));
        var (start, stop) = ranges[0];
        for (int i = 1; i < ranges.Count; i++)
        {
            if (ranges[i].Start <= stop)
            {
                stop = Math.Max(stop, ranges[i].Stop);
                continue;
            }
            HolePunch.TryRelease(file, start, stop - start);
            (start, stop) = ranges[i];
        }
        HolePunch.TryRelease(file, start, stop - start);
    }
}
