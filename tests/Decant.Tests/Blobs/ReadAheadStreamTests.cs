using Decant.Blobs;
using Decant.Model;

namespace Decant.Tests.Blobs;

public class ReadAheadStreamTests
{
    [Fact]
    public async Task PassesEveryByteThroughInOrder()
    {
        byte[] data = new byte[3 << 20];
        new Random(7).NextBytes(data);
        await using var stream = new ReadAheadStream(new MemoryStream(data));
        using var copy = new MemoryStream();
        byte[] buffer = new byte[12345];
        int read;
        while ((read = await stream.ReadAsync(buffer)) > 0)
        {
            copy.Write(buffer, 0, read);
        }
        Assert.Equal(data, copy.ToArray());
        Assert.Equal(0, await stream.ReadAsync(buffer));
    }

    [Fact]
    public async Task ReadsThroughUntilItsConditionHoldsThenAheadToTheEndWithEveryByteInOrder()
    {
        byte[] data = new byte[5 << 20];
        new Random(8).NextBytes(data);
        var inner = new MemoryStream(data);
        int reads = 0;
        await using var stream = new ReadAheadStream(inner, startWhen: () => ++reads > 10);
        using var copy = new MemoryStream();
        byte[] buffer = new byte[54321];
        for (int i = 0; i < 10; i++)
        {
            int through = await stream.ReadAsync(buffer);
            copy.Write(buffer, 0, through);
            Assert.False(stream.IsReadingAhead);
            Assert.Equal(copy.Length, inner.Position); // read through: nothing taken ahead of the caller
        }
        int read;
        while ((read = await stream.ReadAsync(buffer)) > 0)
        {
            copy.Write(buffer, 0, read);
            Assert.True(stream.IsReadingAhead);
        }
        Assert.Equal(data, copy.ToArray());
        Assert.Equal(0, await stream.ReadAsync(buffer));
    }

    [Fact]
    public async Task TheInnerStreamsFailureReachesTheReader()
    {
        await using var stream = new ReadAheadStream(new FailingStream());
        var error = await Assert.ThrowsAsync<DecantException>(async () =>
        {
            byte[] buffer = new byte[1 << 20];
            while (await stream.ReadAsync(buffer) > 0)
            {
            }
        });
        Assert.Equal(DecantErrorKind.InvalidLayer, error.Kind);
    }

    [Fact]
    public async Task DisposingMidStreamStopsTheProducer()
    {
        var stream = new ReadAheadStream(new MemoryStream(new byte[8 << 20]));
        Assert.True(await stream.ReadAsync(new byte[100]) > 0);
        await stream.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));
    }

    private sealed class FailingStream : ReadOnlyStream
    {
        private int _reads;

        public override int Read(Span<byte> buffer) => throw new NotSupportedException();

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            ++_reads < 3 ? ValueTask.FromResult(buffer.Length) : throw new DecantException(DecantErrorKind.InvalidLayer, "corrupt");
    }
}
