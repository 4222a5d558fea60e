using Microsoft.Win32.SafeHandles;

namespace Decant.Blobs;

/// <summary>
/// A blob stream (an uncompressed layer tar) in which runs of bytes are the contents of files on
/// disk (a containers-storage layer rebuilt from its tar-split record), so whoever stores them can
/// take them from the file by reflink rather than write what it reads.
/// </summary>
internal interface IFileBackedStream
{
    /// <summary>
    /// A new handle (the caller's to dispose) on the file whose first <paramref name="size"/> bytes are
    /// the stream's bytes at <paramref name="start"/>; null when the stream does not know one.
    /// </summary>
    SafeFileHandle? OpenDataFile(long start, long size);
}
