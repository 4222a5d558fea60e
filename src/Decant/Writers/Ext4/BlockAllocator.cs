namespace Decant.Writers.Ext4;

/// <summary>
/// Hands out blocks of the image. While layers stream, file data only takes fresh blocks from a
/// bump pointer that skips the superblock zones (so placement depends only on the order of writes);
/// released content is remembered. At commit the released blocks become a free list that metadata
/// is placed into first (first fit), before fresh blocks. Optionally the image file's own blocks
/// are allocated ahead of the fresh blocks handed out (<see cref="AllocateFileAhead"/>).
/// </summary>
internal sealed class BlockAllocator
{
    private readonly Lock _lock = new();
    private readonly GroupLayout _layout;
    private readonly List<BlockRun> _released = [];
    private List<BlockRun> _free = [];
    private int _freeCursor;
    private long _next;
    private bool _sealed;
    private Func<long, long, bool>? _allocateFileBlocks;
    private long _fileAllocatedTo;

    /// <summary>How far ahead of the fresh blocks handed out the file's blocks are allocated, at a time: 64 MiB.</summary>
    internal const long FileAheadBlocks = 16384;

    public BlockAllocator(GroupLayout layout)
    {
        _layout = layout;
        _next = layout.ZoneBlocks;
    }

    /// <summary>One past the highest block ever handed out.</summary>
    public long HighWater => _next;

    /// <summary>Blocks that are neither in use nor in a reserved zone, below <see cref="HighWater"/>, sorted (some runs may be empty).</summary>
    public IReadOnlyList<BlockRun> FreeRuns => _free;

    /// <summary>Takes <paramref name="count"/> fresh blocks (streaming phase), as few runs as the zones allow.</summary>
    public void AllocateFresh(long count, List<BlockRun> into)
    {
        lock (_lock)
        {
            TakeFresh(count, into, contiguous: false);
            if (_allocateFileBlocks is not null && _next > _fileAllocatedTo)
            {
                AllocateFileTo(_next + FileAheadBlocks);
            }
        }
    }

    /// <summary>
    /// While layers stream, has <paramref name="allocate"/> (first block, count; false when the file
    /// cannot) allocate the image file's blocks <see cref="FileAheadBlocks"/> at a time ahead of the
    /// fresh blocks handed out, the zones left out, so the data's writes land in allocated blocks
    /// (<see cref="Interop.FileAllocation"/>). What is allocated past the last block handed out is
    /// given back at <see cref="Seal"/> (<see cref="FileAllocatedUnused"/>).
    /// </summary>
    public void AllocateFileAhead(Func<long, long, bool> allocate)
    {
        lock (_lock)
        {
            _allocateFileBlocks = allocate;
            _fileAllocatedTo = _next;
        }
    }

    /// <summary>The runs of the file's blocks allocated ahead and never handed out, known at <see cref="Seal"/>: to be punched out again.</summary>
    public IReadOnlyList<BlockRun> FileAllocatedUnused { get; private set; } = [];

    private void AllocateFileTo(long end)
    {
        foreach (var run in ZoneFreeRuns(_fileAllocatedTo, end))
        {
            if (!_allocateFileBlocks!(run.Start, run.Length))
            {
                _allocateFileBlocks = null; // not on this filesystem, or no room ahead: the writes allocate
                break; // (what a failed call did allocate is given back with the rest)
            }
        }
        _fileAllocatedTo = end;
    }

    /// <summary>The runs of blocks in [<paramref name="from"/>, <paramref name="end"/>) outside the reserved zones.</summary>
    private List<BlockRun> ZoneFreeRuns(long from, long end)
    {
        var runs = new List<BlockRun>();
        while (from < end)
        {
            long start = _layout.SkipZone(from);
            if (start >= end)
            {
                break;
            }
            long stop = Math.Min(_layout.NextZoneStart(start), end);
            runs.Add(new BlockRun(start, stop - start));
            from = stop;
        }
        return runs;
    }

    /// <summary>Says that these blocks hold nothing the final tree uses.</summary>
    public void Release(IEnumerable<BlockRun> runs)
    {
        lock (_lock)
        {
            _released.AddRange(runs);
        }
    }

    /// <summary>Ends the streaming phase: released blocks become the free list. Returns them so the caller can clear them.</summary>
    public IReadOnlyList<BlockRun> Seal()
    {
        lock (_lock)
        {
            _sealed = true;
            FileAllocatedUnused = ZoneFreeRuns(_next, _fileAllocatedTo);
            _allocateFileBlocks = null;
            _released.Sort((a, b) => a.Start.CompareTo(b.Start));
            var merged = new List<BlockRun>();
            foreach (var run in _released)
            {
                if (merged.Count > 0 && merged[^1].End >= run.Start)
                {
                    var last = merged[^1];
                    merged[^1] = last with { Length = Math.Max(last.End, run.End) - last.Start };
                }
                else
                {
                    merged.Add(run);
                }
            }
            _released.Clear();
            _free = merged;
            return [.. merged];
        }
    }

    /// <summary>Takes <paramref name="count"/> blocks at commit: free runs first, then fresh blocks.</summary>
    public void Allocate(long count, List<BlockRun> into)
    {
        EnsureSealed();
        while (count > 0 && _freeCursor < _free.Count)
        {
            var run = _free[_freeCursor];
            long take = Math.Min(run.Length, count);
            into.Add(new BlockRun(run.Start, take));
            count -= take;
            _free[_freeCursor] = new BlockRun(run.Start + take, run.Length - take);
            if (take == run.Length)
            {
                _freeCursor++;
            }
        }
        if (count > 0)
        {
            TakeFresh(count, into, contiguous: false);
        }
    }

    /// <summary>Takes one run of <paramref name="count"/> consecutive blocks at commit.</summary>
    public long AllocateContiguous(long count)
    {
        EnsureSealed();
        for (int i = _freeCursor; i < _free.Count; i++)
        {
            var run = _free[i];
            if (run.Length >= count)
            {
                _free[i] = new BlockRun(run.Start + count, run.Length - count);
                return run.Start;
            }
        }
        var taken = new List<BlockRun>(1);
        TakeFresh(count, taken, contiguous: true);
        return taken[0].Start;
    }

    /// <summary>Remembers the allocator's state, to try a layout and undo it.</summary>
    public object Save()
    {
        EnsureSealed();
        return (_next, _freeCursor, _free.ToArray());
    }

    public void Restore(object state)
    {
        (_next, _freeCursor, var free) = ((long, int, BlockRun[]))state;
        _free = [.. free];
    }

    /// <summary>Blocks below <see cref="HighWater"/> that are in use (zones and free runs excluded).</summary>
    public long UsedBelowHighWater()
    {
        long zones = 0;
        foreach (long group in _layout.BackupGroups)
        {
            long start = GroupLayout.GroupStart(group);
            if (start >= _next)
            {
                break;
            }
            zones += Math.Min(_layout.ZoneBlocks, _next - start);
        }
        long free = 0;
        for (int i = _freeCursor; i < _free.Count; i++)
        {
            free += _free[i].Length;
        }
        return _next - zones - free;
    }

    private void EnsureSealed()
    {
        if (!_sealed)
        {
            throw new InvalidOperationException("commit-time allocation before the content store was sealed");
        }
    }

    private void TakeFresh(long count, List<BlockRun> into, bool contiguous)
    {
        while (count > 0)
        {
            long start = _layout.SkipZone(_next);
            long zone = _layout.NextZoneStart(start);
            long room = zone - start;
            if (contiguous && room < count)
            {
                // The run would cross a zone: leave the gap free and start after the zone.
                if (room > 0)
                {
                    InsertFree(new BlockRun(start, room));
                }
                _next = zone;
                continue;
            }
            long take = Math.Min(room, count);
            into.Add(new BlockRun(start, take));
            _next = start + take;
            count -= take;
        }
    }

    private void InsertFree(BlockRun run)
    {
        int index = _free.FindIndex(_freeCursor, r => r.Start > run.Start);
        _free.Insert(index < 0 ? _free.Count : index, run);
    }
}
