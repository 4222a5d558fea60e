using Decant.Sources;

namespace Decant.Tests.Support;

/// <summary>
/// A real layout source whose blob <paramref name="gated"/> opens only once <paramref name="gate"/>
/// completes, and, when <paramref name="pausing"/> names a blob, whose stream of that blob stops after
/// its first bytes (saying so) until a second gate completes: the one injected fault, a delay, so the
/// order of events is not left to timing.
/// </summary>
internal sealed class GatedSource(IImageSource inner, string gated, Task gate, (string Digest, long After, TaskCompletionSource Paused, Task Resume)? pausing = null) : IImageSource
{
    public string Name => inner.Name;

    public ValueTask<Decant.Manifests.Descriptor> ResolveRootAsync(CancellationToken cancellationToken) => inner.ResolveRootAsync(cancellationToken);

    public async ValueTask<Stream> OpenBlobAsync(Decant.Manifests.Descriptor descriptor, CancellationToken cancellationToken)
    {
        if (descriptor.Digest == gated)
        {
            await gate.WaitAsync(cancellationToken);
        }
        var stream = await inner.OpenBlobAsync(descriptor, cancellationToken);
        return pausing is { } pause && descriptor.Digest == pause.Digest ? new PausingStream(stream, pause.After, pause.Paused, pause.Resume) : stream;
    }

    public ValueTask DisposeAsync() => inner.DisposeAsync();

    /// <summary>A stream that gives its first <paramref name="after"/> bytes, then says it <paramref name="paused"/> and waits for <paramref name="resume"/>.</summary>
    private sealed class PausingStream(Stream inner, long after, TaskCompletionSource paused, Task resume) : Stream
    {
        private long _given;

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (_given >= after && !resume.IsCompleted)
            {
                paused.TrySetResult();
                await resume.WaitAsync(cancellationToken);
            }
            int want = _given < after ? (int)Math.Min(buffer.Length, after - _given) : buffer.Length;
            int read = await inner.ReadAsync(buffer[..want], cancellationToken);
            _given += read;
            return read;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }
            base.Dispose(disposing);
        }

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => inner.Length;
        public override long Position { get => _given; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
