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
