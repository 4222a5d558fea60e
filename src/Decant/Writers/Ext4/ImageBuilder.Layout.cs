using Decant.Model;

namespace Decant.Writers.Ext4;

/// <summary>Sizing the filesystem and writing its group metadata.</summary>
internal sealed partial class ImageBuilder
{
    private const int MaxInodesPerGroup = Ext4Constants.BlocksPerGroup;

    /// <summary>Where the group metadata and journal go, for one total size.</summary>
    private sealed record FilesystemPlan
    {
        public required long TotalBlocks { get; init; }
        public required long Groups { get; init; }
        public required int InodesPerGroup { get; init; }
        public required long BlockBitmaps { get; init; }
        public required long InodeBitmaps { get; init; }
        public required long InodeTables { get; init; }
        public required int JournalBlocks { get; init; }
        public required long JournalStart { get; init; }
        public required List<long> JournalTreeBlocks { get; init; }
        public required long UsedBlocks { get; init; }
        /// <summary>The smallest total that holds this layout (and the wanted free space).</summary>
        public required long NeededBlocks { get; init; }

        public int InodeTableBlocks => InodesPerGroup * Ext4Constants.InodeSize / Ext4Constants.BlockSize;
    }

    private FilesystemPlan PlanFilesystem()
    {
        var state = _allocator.Save();
        if (_options.Size is { } size)
        {
            long fileBlocks = size / Ext4Constants.BlockSize;
            long total = fileBlocks % Ext4Constants.BlocksPerGroup is var tail && tail != 0 && tail <= _layout.ZoneBlocks
                ? fileBlocks - tail
                : fileBlocks;
            // A tight fixed size gets a smaller journal (down to the jbd2 minimum, then none) rather than failing.
            int journal = _options.Journal ? JournalSuperblock.DefaultBlocks(total) : 0;
            while (true)
            {
                var plan = TryLayout(total, freeWanted: 0, state, journal);
                if (plan.NeededBlocks <= total)
                {
                    return plan;
                }
                if (journal == 0)
                {
                    break;
                }
                journal = journal / 2 >= JournalSuperblock.MinimumBlocks ? journal / 2 : 0;
            }
            var smallest = Converge(freeWanted: 0, state);
            throw new DecantException(DecantErrorKind.OutputError,
                $"the tree does not fit an ext4 image of {size} bytes: needs {smallest.TotalBlocks * Ext4Constants.BlockSize} bytes");
        }
        long freeBlocks = (_options.FreeSpaceBytes + Ext4Constants.BlockSize - 1) / Ext4Constants.BlockSize;
        return Converge(freeBlocks, state);
    }

    /// <summary>Grows the size from the data's high-water mark until the layout it implies fits, then settles on the smallest fit.</summary>
    private FilesystemPlan Converge(long freeWanted, object state)
    {
        _allocator.Restore(state);
        long total = Math.Max(_allocator.HighWater, 1);
        for (int attempt = 0; attempt < 64; attempt++)
        {
            var plan = TryLayout(total, freeWanted, state);
            if (plan.NeededBlocks <= total)
            {
                // Settle lower if the layout for this size needs less than it.
                while (plan.NeededBlocks < plan.TotalBlocks)
                {
                    var smaller = TryLayout(plan.NeededBlocks, freeWanted, state);
                    if (smaller.NeededBlocks > smaller.TotalBlocks)
                    {
                        break;
                    }
                    plan = smaller;
                }
                return TryLayout(plan.TotalBlocks, freeWanted, state);
            }
            total = plan.NeededBlocks;
        }
        throw new InvalidOperationException("the ext4 image size did not converge");
    }

    /// <summary>Places the journal, bitmaps and inode tables for a filesystem of <paramref name="total"/> blocks.</summary>
    private FilesystemPlan TryLayout(long total, long freeWanted, object state, int? journalOverride = null)
    {
        _allocator.Restore(state);
        long inodesWanted = InodeCount + _options.FreeInodes;
        long groups = Math.Max((total + Ext4Constants.BlocksPerGroup - 1) / Ext4Constants.BlocksPerGroup, (inodesWanted + MaxInodesPerGroup - 1) / MaxInodesPerGroup);
        if (groups > _layout.MaxGroups)
        {
            throw new DecantException(DecantErrorKind.OutputError,
                $"the image needs {groups} block groups, more than the {_layout.MaxGroups} an image of this writer holds; give a fixed size to go beyond {Ext4Writer.MaxAutomaticSize} bytes");
        }
        long perGroup = (inodesWanted + groups - 1) / groups;
        int inodesPerGroup = (int)Math.Clamp((perGroup + Ext4Constants.InodesPerBlock - 1) / Ext4Constants.InodesPerBlock * Ext4Constants.InodesPerBlock, Ext4Constants.InodesPerBlock, MaxInodesPerGroup);
        int inodeTableBlocks = inodesPerGroup * Ext4Constants.InodeSize / Ext4Constants.BlockSize;

        int journalBlocks = journalOverride ?? (_options.Journal ? JournalSuperblock.DefaultBlocks(total) : 0);
        long journalStart = 0;
        var journalTree = new List<long>();
        if (journalBlocks > 0)
        {
            journalStart = _allocator.AllocateContiguous(journalBlocks);
            int treeBlocks = ExtentTree.BlocksNeeded((journalBlocks + Ext4Constants.MaxExtentLength - 1) / Ext4Constants.MaxExtentLength);
            var runs = new List<BlockRun>();
            _allocator.Allocate(treeBlocks, runs);
            journalTree.AddRange(runs.SelectMany(r => Enumerable.Range(0, (int)r.Length).Select(i => r.Start + i)));
        }
        long blockBitmaps = _allocator.AllocateContiguous(groups);
        long inodeBitmaps = _allocator.AllocateContiguous(groups);
        long inodeTables = _allocator.AllocateContiguous(groups * inodeTableBlocks);

        long superblockBlocks = _layout.BackupGroups.Count(g => g < groups) * (1 + GroupLayout.DescriptorBlocks(groups));
        long used = _allocator.UsedBelowHighWater() + superblockBlocks;
        long needed = Math.Max(Math.Max(_allocator.HighWater, used + freeWanted), (groups - 1) * Ext4Constants.BlocksPerGroup + _layout.ZoneBlocks + 1);
        long tail = needed % Ext4Constants.BlocksPerGroup;
        if (tail != 0 && tail <= _layout.ZoneBlocks)
        {
            needed += _layout.ZoneBlocks + 1 - tail;
        }
        return new FilesystemPlan
        {
            TotalBlocks = total, Groups = groups, InodesPerGroup = inodesPerGroup,
            BlockBitmaps = blockBitmaps, InodeBitmaps = inodeBitmaps, InodeTables = inodeTables,
            JournalBlocks = journalBlocks, JournalStart = journalStart, JournalTreeBlocks = journalTree,
            UsedBlocks = used, NeededBlocks = needed,
        };
    }
}
