using Decant.Interop;
using Decant.Tests.Support;

namespace Decant.Tests.Interop;

public sealed class BatchedHolePunchTests : IDisposable
{
    private const int Block = 4096;
    private readonly ScratchDirectory _scratch = new();

    public void Dispose() => _scratch.Dispose();

    [Fact]
    public void RangesArePunchedOnlyOnceEnoughArePendingJoinedWithTheirNeighboursAndRoundedToWholeBlocks()
    {
        var path = _scratch.Combine("spool");
        byte[] data = new byte[64 * Block];
        Array.Fill(data, (byte)0xAB);
        File.WriteAllBytes(path, data);
        using var file = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite);
        var punch = new BatchedHolePunch(file, Block, flushBytes: 8 * Block);

        punch.Release(3 * Block, 100); // the rest of block 3 goes with it
        punch.Release(1 * Block, Block);
        punch.Release(2 * Block, Block);
        punch.Release(30 * Block, 0); // nothing
        Assert.Equal([(0L, 64L * Block)], DataBlocks(file)); // three blocks pending: not yet

        punch.Release(10 * Block, 5 * Block); // eight pending: punched
        Assert.Equal([(0L, 1L * Block), (4L * Block, 6L * Block), (15L * Block, 49L * Block)], DataBlocks(file));

        punch.Release(20 * Block, Block);
        Assert.Equal([(0L, 1L * Block), (4L * Block, 6L * Block), (15L * Block, 49L * Block)], DataBlocks(file)); // one pending: held back
        punch.Release(40 * Block, 7 * Block);
        Assert.Equal([(0L, 1L * Block), (4L * Block, 6L * Block), (15L * Block, 5L * Block), (21L * Block, 19L * Block), (47L * Block, 17L * Block)], DataBlocks(file));

        // What was not released still reads as it was written, and a punched block reads as zeros.
        byte[] back = File.ReadAllBytes(path);
        Assert.Equal(data.Length, back.Length);
        Assert.All(back.AsSpan(4 * Block, 6 * Block).ToArray(), b => Assert.Equal(0xAB, b));
        Assert.All(back.AsSpan(1 * Block, 3 * Block).ToArray(), b => Assert.Equal(0, b));
    }

    private static List<(long Offset, long Length)> DataBlocks(Microsoft.Win32.SafeHandles.SafeFileHandle file) =>
        FileDataRanges.Find(file, 0, RandomAccess.GetLength(file));
}
