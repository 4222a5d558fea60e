namespace Decant.Writers.Erofs;

/// <summary>
/// The image's blocks: file data takes fresh blocks from the end as it streams (block 0 holds the
/// superblock); released content gives its blocks back, and what is laid out at commit takes the
/// first free run long enough before growing the image. Thread-safe.
/// </summary>
internal sealed class ErofsBlockAllocator
{
    private readonly Lock _lock = new();
    private readonly List<DataRun> _free = [];
    private long _end = 1;

    /// <summary>The first block after every block handed out so far.</summary>
    public long End
    {
        get
        {
            lock (_lock)
            {
                return _end;
            }
        }
    }

    /// <summary>Takes <paramref name="blocks"/> contiguous blocks at the end of the image.</summary>
    public long AllocateFresh(long blocks)
    {
        lock (_lock)
        {
            long start = _end;
            _end += blocks;
            if (_end > uint.MaxValue)
            {
                throw new Model.DecantException(Model.DecantErrorKind.OutputError, "the EROFS image would be larger than 16 TiB, the most 32-bit block numbers address");
            }
            return start;
        }
    }

    /// <summary>
    /// Gives back the blocks from <paramref name="newEnd"/> on when nothing was taken since they
    /// were (the end is still <paramref name="expectedEnd"/>); false, and nothing changes, otherwise.
    /// </summary>
    public bool TryShrink(long expectedEnd, long newEnd)
    {
        lock (_lock)
        {
            if (_end != expectedEnd)
            {
                return false;
            }
            _end = newEnd;
            return true;
        }
    }

    /// <summary>Takes <paramref name="blocks"/> contiguous blocks: the first free run that holds them, else fresh ones.</summary>
    public long Allocate(long blocks)
    {
        lock (_lock)
        {
            for (int i = 0; i < _free.Count; i++)
            {
                var run = _free[i];
                if (run.Blocks >= blocks)
                {
                    _free[i] = run with { Physical = run.Physical + blocks, Blocks = run.Blocks - blocks };
                    if (_free[i].Blocks == 0)
                    {
                        _free.RemoveAt(i);
                    }
                    return run.Physical;
                }
            }
        }
        return AllocateFresh(blocks);
    }

    /// <summary>Gives blocks back for what commit lays out.</summary>
    public void Release(IEnumerable<DataRun> runs)
    {
        lock (_lock)
        {
            _free.AddRange(runs.Select(r => new DataRun(0, r.Physical, r.Blocks)));
        }
    }

    /// <summary>Sorts and joins the free runs, so commit takes them in block order.</summary>
    public void Seal()
    {
        lock (_lock)
        {
            _free.Sort((a, b) => a.Physical.CompareTo(b.Physical));
            for (int i = _free.Count - 1; i > 0; i--)
            {
                if (_free[i - 1].Physical + _free[i - 1].Blocks == _free[i].Physical)
                {
                    _free[i - 1] = _free[i - 1] with { Blocks = _free[i - 1].Blocks + _free[i].Blocks };
                    _free.RemoveAt(i);
                }
            }
        }
    }

    /// <summary>The runs still free (to punch as holes once the image is laid out).</summary>
    public IReadOnlyList<DataRun> FreeRuns
    {
        get
        {
            lock (_lock)
            {
                return [.. _free];
            }
        }
    }
}
