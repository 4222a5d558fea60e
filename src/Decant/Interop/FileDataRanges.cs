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
    public static List<(long Offset, long Length)> Find(SafeFileHandle file, long start, long length)
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
                return [(0, length)];
            }
            if (data >= end)
            {
                break;
            }
            long hole = LibC.Lseek(file, data, LibC.SEEK_HOLE);
            if (hole < 0)
            {
                return [(0, length)];
            }
            long stop = Math.Min(hole, end);
            ranges.Add((data - start, stop - data));
            position = stop;
        }
        return ranges;
    }
}
