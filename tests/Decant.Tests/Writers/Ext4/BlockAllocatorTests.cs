using Decant.Writers.Ext4;

namespace Decant.Tests.Writers.Ext4;

/// <summary>The allocator's allocation of the image file ahead of the blocks it hands out.</summary>
public sealed class BlockAllocatorTests
{
    private const long Group = Ext4Constants.BlocksPerGroup;

    [Fact]
    public void TheFileIsAllocatedAheadOfTheFreshBlocksWithTheZonesLeftOutAndWhatWasNotHandedOutIsGivenBackAtSeal()
    {
        var layout = new GroupLayout(maxGroups: 16); // superblock zones at the start of groups 0, 1, 3, 5, 7 and 9
        var allocator = new BlockAllocator(layout);
        var allocated = new List<BlockRun>();
        allocator.AllocateFileAhead((start, blocks) =>
        {
            allocated.Add(new BlockRun(start, blocks));
            return true;
        });
        long first = layout.ZoneBlocks;

        var runs = new List<BlockRun>();
        allocator.AllocateFresh(10, runs);
        Assert.Equal([new BlockRun(first, 10)], runs);
        Assert.Equal([new BlockRun(first, 10 + BlockAllocator.FileAheadBlocks)], allocated);

        allocator.AllocateFresh(100, runs); // within what is allocated already: nothing more
        Assert.Single(allocated);

        // Past group 1's zone: the next step leaves the zone out.
        runs.Clear();
        allocator.AllocateFresh(Group, runs);
        long highWater = allocator.HighWater;
        Assert.True(highWater > Group + layout.ZoneBlocks);
        Assert.All(allocated, run => Assert.True(run.End <= Group || run.Start >= Group + layout.ZoneBlocks, $"run {run.Start}+{run.Length} overlaps group 1's zone"));
        Assert.Equal(allocated.Sum(r => r.Length), allocated[^1].End - first - layout.ZoneBlocks); // contiguous but for the zone
        Assert.True(allocated[^1].End == highWater + BlockAllocator.FileAheadBlocks);

        allocator.Seal();
        Assert.Equal([new BlockRun(highWater, BlockAllocator.FileAheadBlocks)], allocator.FileAllocatedUnused);
    }

    [Fact]
    public void AFileThatCannotBeAllocatedStopsBeingAskedAndWhatWasTriedIsGivenBack()
    {
        var layout = new GroupLayout(maxGroups: 4);
        var allocator = new BlockAllocator(layout);
        int calls = 0;
        allocator.AllocateFileAhead((_, _) =>
        {
            calls++;
            return false;
        });
        var runs = new List<BlockRun>();
        allocator.AllocateFresh(1, runs);
        allocator.AllocateFresh(BlockAllocator.FileAheadBlocks * 2, runs);
        Assert.Equal(1, calls);

        allocator.Seal();
        long end = layout.ZoneBlocks + 1 + BlockAllocator.FileAheadBlocks;
        Assert.Equal(Math.Max(0, end - allocator.HighWater), allocator.FileAllocatedUnused.Sum(r => r.Length));
    }
}
