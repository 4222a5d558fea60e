using Decant.Export;

namespace Decant.Tests.Export;

public class ReadAheadWindowTests
{
    [Fact]
    public async Task LayersStartInOrderWithinTheByteWindowAndTheLowestAlwaysProceeds()
    {
        var window = new ReadAheadWindow(jobs: 4, maxBytesInFlight: 50, sizes: [10, 100, 10, 10]);
        await window.WaitTurnAsync(0, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(5));
        var second = window.WaitTurnAsync(1, CancellationToken.None);
        var third = window.WaitTurnAsync(2, CancellationToken.None);
        await Task.Delay(100);
        Assert.False(second.IsCompleted, "100 bytes on top of 10 in flight exceeds the 50-byte window");
        Assert.False(third.IsCompleted, "layers start in order");

        window.ReadFinished();
        window.Applied(0);
        await second.WaitAsync(TimeSpan.FromSeconds(5)); // the lowest unapplied layer always proceeds, even over the window
        await Task.Delay(100);
        Assert.False(third.IsCompleted, "10 bytes on top of 100 in flight exceeds the window");

        window.ReadFinished();
        window.Applied(1);
        await third.WaitAsync(TimeSpan.FromSeconds(5));
        await window.WaitTurnAsync(3, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task AtMostJobsLayersReadAtOnce()
    {
        var window = new ReadAheadWindow(jobs: 2, maxBytesInFlight: long.MaxValue, sizes: [1, 1, 1]);
        await window.WaitTurnAsync(0, CancellationToken.None);
        await window.WaitTurnAsync(1, CancellationToken.None);
        var third = window.WaitTurnAsync(2, CancellationToken.None);
        await Task.Delay(100);
        Assert.False(third.IsCompleted);
        window.ReadFinished();
        await third.WaitAsync(TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task WaitingIsCancellable()
    {
        var window = new ReadAheadWindow(jobs: 1, maxBytesInFlight: long.MaxValue, sizes: [1, 1]);
        await window.WaitTurnAsync(0, CancellationToken.None);
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(50));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => window.WaitTurnAsync(1, cancel.Token));
    }
}
