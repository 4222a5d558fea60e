namespace Decant.Blobs;

/// <summary>A read-only pass-through stream that reports how many bytes went by (for progress).</summary>
internal sealed class CountingStream(Stream inner, Action<long> onBytes) : ReadOnlyStream
{

    public override int Read(Span<byte> buffer)
    {
        int read = inner.Read(buffer);
        onBytes(read);
        return read;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        int read = await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        onBytes(read);
        return read;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
        }
        base.Dispose(disposing);
    }
}
