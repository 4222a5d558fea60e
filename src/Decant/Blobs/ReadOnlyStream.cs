namespace Decant.Blobs;

/// <summary>
/// The boilerplate of a forward-only, read-only stream: subclasses implement the two span/memory
/// reads and, if they own something, Dispose.
/// </summary>
internal abstract class ReadOnlyStream : Stream
{
    /// <inheritdoc/>
    public override bool CanRead => true;
    /// <inheritdoc/>
    public override bool CanSeek => false;
    /// <inheritdoc/>
    public override bool CanWrite => false;
    /// <inheritdoc/>
    /// <exception cref="NotSupportedException">Always: the stream is forward-only.</exception>
    public override long Length => throw new NotSupportedException();
    /// <inheritdoc/>
    /// <exception cref="NotSupportedException">Always, unless a subclass overrides it: the stream is forward-only.</exception>
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    /// <inheritdoc/>
    public abstract override int Read(Span<byte> buffer);

    /// <inheritdoc/>
    public abstract override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default);

    /// <inheritdoc/>
    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    /// <inheritdoc/>
    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <inheritdoc/>
    public override void Flush()
    {
    }

    /// <inheritdoc/>
    /// <exception cref="NotSupportedException">Always: the stream is forward-only.</exception>
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    /// <inheritdoc/>
    /// <exception cref="NotSupportedException">Always: the stream is read-only.</exception>
    public override void SetLength(long value) => throw new NotSupportedException();
    /// <inheritdoc/>
    /// <exception cref="NotSupportedException">Always: the stream is read-only.</exception>
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
