using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Decant.Interop;

/// <summary>Where a file holds data and where it holds holes, as lseek(2) SEEK_DATA and SEEK_HOLE say.</summary>
internal static class FileDataRanges
{
    /// <summary>
    /// The data ranges within <paramref name="length"/> bytes at <paramref name="start"/>, relative to
    /// <paramref name="start"/>, in order; everything between them reads as zeros. Where the
    /// filesystem cannot tell, the whole range is one data range.
    /// </summary>
    public static List<(long Offset, long Length)> Find(SafeFileHandle file, long start, long length) =>
        TryFind(file, start, length) ?? [(0, length)];

    /// <summary>
    /// The data ranges of a file that leaves every all-zero block of <paramref name="blockSize"/>
    /// bytes a hole (as the cache's objects do), when the filesystem reports them exactly: its block
    /// size divides <paramref name="blockSize"/> and every range starts and ends on a block boundary
    /// (or at the file's end). Then the ranges are precisely the blocks that are not all zero. Null
    /// when the filesystem cannot tell that precisely.
    /// </summary>
    public static List<(long Offset, long Length)>? TryFindBlocks(SafeFileHandle file, long size, int blockSize)
    {
        byte[] statfs = new byte[StatfsSize];
        if (LibC.Fstatfs(file, statfs) != 0)
        {
            return null;
        }
        long filesystemBlock = BitConverter.ToInt64(statfs, StatfsBlockSizeOffset);
        if (filesystemBlock <= 0 || blockSize % filesystemBlock != 0)
        {
            return null;
        }
        var ranges = TryFind(file, 0, size);
        return ranges is not null && ranges.TrueForAll(r => r.Offset % blockSize == 0 && (r.Length % blockSize == 0 || r.Offset + r.Length == size)) ? ranges : null;
    }

    /// <summary>The size of struct statfs on 64-bit Linux, and the offset of its f_bsize.</summary>
    private const int StatfsSize = 120, StatfsBlockSizeOffset = 8;

    /// <summary>The data ranges, or null when the filesystem cannot tell (no SEEK_DATA).</summary>
    private static List<(long Offset, long Length)>? TryFind(SafeFileHandle file, long start, long length)
    {
        var ranges = new List<(long, long)>();
        long end = start + length;
        long position = start;
        while (position < end)
        {
            long data = LibC.Lseek(file, position, LibC.SEEK_DATA);
            if (data < 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                if (errno == LibC.ENXIO)
                {
                    break; // only a hole from here to the end of the file
                }
                return null;
            }
            if (data >= end)
            {
                break;
            }
            long hole = LibC.Lseek(file, data, LibC.SEEK_HOLE);
            if (hole < 0)
            {
                return null;
            }
            long stop = Math.Min(hole, end);
            ranges.Add((data - start, stop - data));
            position = stop;
        }
        return ranges;
    }
}
