using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Decant.Interop;

/// <summary>
/// Copies file contents without passing them through userspace: a reflink (<c>FICLONE</c>,
/// <c>FICLONERANGE</c>) where the filesystem shares blocks between files (XFS with reflink=1,
/// btrfs), else <c>copy_file_range(2)</c>, else an ordinary read and write. Holes stay holes.
/// </summary>
internal static class KernelCopy
{
    /// <summary>How much one copy_file_range call moves at most, so cancellation is checked between calls.</summary>
    private const long CopyStep = 16 << 20;

    /// <summary>
    /// Files up to this size are copied with one read and one write: that costs less than asking for
    /// their data ranges and copying or cloning in the kernel (a reflink is a filesystem transaction).
    /// </summary>
    public const long SmallFileLimit = 64 << 10;

    /// <summary>
    /// Makes <paramref name="destination"/> (empty) share all of <paramref name="source"/>'s blocks;
    /// false where the filesystem cannot (no reflink support, different filesystems).
    /// </summary>
    /// <exception cref="IOException">The filesystem refused for another reason (a full disk, an I/O error).</exception>
    public static bool TryClone(SafeFileHandle destination, SafeFileHandle source)
    {
        if (LibC.Ioctl(destination, LibC.FICLONE, source.DangerousGetHandle()) == 0)
        {
            return true;
        }
        int errno = Marshal.GetLastPInvokeError();
        return IsUnsupported(errno) ? false : throw new IOException($"FICLONE failed: errno {errno}");
    }

    /// <summary>
    /// Makes <paramref name="length"/> bytes of <paramref name="destination"/> at
    /// <paramref name="destinationOffset"/> share <paramref name="source"/>'s blocks at
    /// <paramref name="sourceOffset"/>; both offsets and the length are multiples of the block size
    /// (the length may instead end at the source's end). False where the filesystem cannot.
    /// </summary>
    public static bool TryCloneRange(SafeFileHandle source, long sourceOffset, SafeFileHandle destination, long destinationOffset, long length)
    {
        var range = new LibC.FileCloneRange
        {
            SourceFd = source.DangerousGetHandle(),
            SourceOffset = (ulong)sourceOffset,
            SourceLength = (ulong)length,
            DestinationOffset = (ulong)destinationOffset,
        };
        if (LibC.Ioctl(destination, LibC.FICLONERANGE, ref range) == 0)
        {
            return true;
        }
        int errno = Marshal.GetLastPInvokeError();
        return IsUnsupported(errno) ? false : throw new IOException($"FICLONERANGE failed: errno {errno}");
    }

    /// <summary>
    /// Copies the data of <paramref name="source"/>'s first <paramref name="size"/> bytes to the same
    /// offsets plus <paramref name="destinationOffset"/> of <paramref name="destination"/>, range by
    /// data range (holes are skipped and stay holes).
    /// </summary>
    public static async ValueTask CopyDataAsync(SafeFileHandle source, long size, SafeFileHandle destination, long destinationOffset, CancellationToken cancellationToken)
    {
        foreach (var (offset, length) in FileDataRanges.Find(source, 0, size))
        {
            await CopyRangeAsync(source, offset, destination, destinationOffset + offset, length, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Copies <paramref name="length"/> bytes between two files at the given offsets, in the kernel where it can.</summary>
    public static async ValueTask CopyRangeAsync(SafeFileHandle source, long sourceOffset, SafeFileHandle destination, long destinationOffset, long length, CancellationToken cancellationToken)
    {
        while (length > 0)
        {
            cancellationToken.ThrowIfCancellationRequested();
            long from = sourceOffset, to = destinationOffset;
            nint copied = LibC.CopyFileRange(source, ref from, destination, ref to, (nuint)Math.Min(length, CopyStep), 0);
            if (copied < 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                if (errno == LibC.EINTR)
                {
                    continue;
                }
                if (!IsUnsupported(errno) && errno != LibC.ENOSYS)
                {
                    throw new IOException(errno == LibC.ENOSPC ? "no space left on the device" : $"copy_file_range failed: errno {errno}");
                }
                await CopyThroughMemoryAsync(source, sourceOffset, destination, destinationOffset, length, cancellationToken).ConfigureAwait(false);
                return;
            }
            if (copied == 0)
            {
                throw new IOException($"the source file ended {length} bytes before the range to copy did");
            }
            sourceOffset += copied;
            destinationOffset += copied;
            length -= copied;
        }
    }

    /// <summary>Copies <paramref name="length"/> bytes between two files through a pooled buffer (reads and writes, no kernel copy).</summary>
    public static async ValueTask CopyThroughMemoryAsync(SafeFileHandle source, long sourceOffset, SafeFileHandle destination, long destinationOffset, long length, CancellationToken cancellationToken)
    {
        byte[] buffer = System.Buffers.ArrayPool<byte>.Shared.Rent((int)Math.Clamp(length, 1, 1 << 20));
        try
        {
            while (length > 0)
            {
                int read = await RandomAccess.ReadAsync(source, buffer.AsMemory(0, (int)Math.Min(buffer.Length, length)), sourceOffset, cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    throw new IOException($"the source file ended {length} bytes before the range to copy did");
                }
                await RandomAccess.WriteAsync(destination, buffer.AsMemory(0, read), destinationOffset, cancellationToken).ConfigureAwait(false);
                sourceOffset += read;
                destinationOffset += read;
                length -= read;
            }
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>The errors that mean "this filesystem (or pair of files) cannot do that", not a failure.</summary>
    private static bool IsUnsupported(int errno) =>
        errno is LibC.EOPNOTSUPP or LibC.EXDEV or LibC.EINVAL or LibC.ENOTTY;
}
