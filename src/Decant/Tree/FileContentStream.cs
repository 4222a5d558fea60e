using Decant.Interop;
using Microsoft.Win32.SafeHandles;

namespace Decant.Tree;

/// <summary>
/// The <c>size</c> bytes of a file at <c>offset</c> (a cache object; a content in a spool) as a
/// read-only stream that knows where the file's holes are, so a store skips them at no cost instead
/// of reading their zeros (except in a content of at most <see cref="KernelCopy.SmallFileLimit"/>
/// bytes: asking costs more than reading it). The handle stays the caller's.
/// </summary>
internal sealed class FileContentStream(SafeFileHandle file, long size, long offset = 0) : Blobs.ReadOnlyStream, IHoleSkippingStream
{
    private long _position;

    /// <inheritdoc/>
    public override long Position { get => _position; set => throw new NotSupportedException(); }

    /// <inheritdoc/>
    public override int Read(Span<byte> buffer)
    {
        int read = RandomAccess.Read(file, buffer[..Want(buffer.Length)], offset + _position);
        _position += read;
        return read;
    }

    /// <inheritdoc/>
    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        int read = await RandomAccess.ReadAsync(file, buffer[..Want(buffer.Length)], offset + _position, cancellationToken).ConfigureAwait(false);
        _position += read;
        return read;
    }

    /// <inheritdoc/>
    public long SkipHole(int alignment)
    {
        if (_position >= size || size <= KernelCopy.SmallFileLimit)
        {
            return 0;
        }
        long data = LibC.Lseek(file, offset + _position, LibC.SEEK_DATA);
        // No data after the position (ENXIO): the rest is a hole. An error otherwise: read it as it is.
        long holeEnd = data < 0
            ? (System.Runtime.InteropServices.Marshal.GetLastPInvokeError() == LibC.ENXIO ? size : _position)
            : Math.Min(data - offset, size);
        long skip = holeEnd == size ? size - _position : (holeEnd - _position) / alignment * alignment;
        _position += skip;
        return skip;
    }

    private int Want(int length) => (int)Math.Min(length, size - _position);
}
