using Decant.Interop;
using Decant.Model;
using Decant.Tree;
using Microsoft.Win32.SafeHandles;

namespace Decant.Writers.Tar;

/// <summary>
/// A content store in one temporary spool file. Each write reserves its own region up front, so
/// layers read concurrently write side by side without locks. All-zero blocks are not written, so
/// zeros (a sparse file's holes) take no spool space. The file is deleted when disposed.
/// </summary>
internal sealed class SpoolContentStore : IContentStore, IFileContentStore, IDisposable
{
    private readonly SafeFileHandle _file;
    private long _end;

    /// <summary>The alignment of every content's start in the spool: the largest block size of the filesystems it lives on (4 KiB pages and blocks).</summary>
    internal const long SpoolBlock = 4096;

    public SpoolContentStore(string directory)
    {
        string path = Path.Combine(directory, $".decant-spool-{Guid.NewGuid():N}");
        _file = File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, FileOptions.DeleteOnClose | FileOptions.Asynchronous);
    }

    public async ValueTask<ContentRef> WriteAsync(Stream data, long size, CancellationToken cancellationToken)
    {
        long offset = Reserve(size);
        await ContentCopy.CopyAsync(data, size, new RegionSink(_file, offset), cancellationToken).ConfigureAwait(false);
        return new SpooledContent(offset, size);
    }

    /// <summary>Copies the source's data ranges into a region of the spool in the kernel (which may share blocks where the filesystem can); holes stay holes.</summary>
    public async ValueTask<PlacedContent> PlaceAsync(SafeFileHandle source, long size, FileMetadataHint? hint, CancellationToken cancellationToken)
    {
        long offset = Reserve(size);
        await KernelCopy.CopyDataAsync(source, size, _file, offset, cancellationToken).ConfigureAwait(false);
        return new PlacedContent(new SpooledContent(offset, size), Reflinked: false);
    }

    /// <summary>
    /// Reserves the spool region of one content. Each starts on a block boundary of its own, so the
    /// data ranges the kernel reports for it (SEEK_DATA/SEEK_HOLE, in whole blocks) never take in a
    /// neighbour's bytes: its sparse map then depends on its content alone, not on which layer was read first.
    /// </summary>
    private long Reserve(long size)
    {
        long reserved = (size + SpoolBlock - 1) & ~(SpoolBlock - 1);
        return Interlocked.Add(ref _end, reserved) - reserved;
    }

    /// <summary>Content no longer in the tree gives its spool space back, so the spool holds about what the output will.</summary>
    public ValueTask ReleaseAsync(ContentRef content, CancellationToken cancellationToken)
    {
        var spooled = (SpooledContent)content;
        HolePunch.TryRelease(_file, spooled.Offset, spooled.Size);
        return ValueTask.CompletedTask;
    }

    /// <summary>Where one stored content holds data, relative to its start; the rest are holes (zeros never written).</summary>
    public List<(long Offset, long Length)> DataRanges(ContentRef content)
    {
        var spooled = (SpooledContent)content;
        return FileDataRanges.Find(_file, spooled.Offset, spooled.Size);
    }

    /// <summary>
    /// Extends the spool over every region reserved in it, so a content whose last blocks were zeros
    /// (never written) reads whole, its holes as zeros, to the end of its region. Called once every
    /// content is in.
    /// </summary>
    public void Seal() => RandomAccess.SetLength(_file, Math.Max(RandomAccess.GetLength(_file), Volatile.Read(ref _end)));

    /// <summary>The spool file and where one stored content starts in it.</summary>
    public (SafeFileHandle File, long Offset) Region(ContentRef content) => (_file, ((SpooledContent)content).Offset);

    /// <summary>
    /// Moves <paramref name="length"/> bytes at <paramref name="start"/> of one stored content to
    /// <paramref name="destination"/>: each piece's spool space is given back once it is written.
    /// </summary>
    public async ValueTask MoveRangeToAsync(ContentRef content, long start, long length, Stream destination, byte[] buffer, CancellationToken cancellationToken)
    {
        var spooled = (SpooledContent)content;
        long copied = 0;
        while (copied < length)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int want = (int)Math.Min(buffer.Length, length - copied);
            int read = await RandomAccess.ReadAsync(_file, buffer.AsMemory(0, want), spooled.Offset + start + copied, cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                // Past the end of the spool file: zeros that were never written (every region is reserved).
                buffer.AsSpan(0, want).Clear();
                read = want;
            }
            await destination.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
            HolePunch.TryRelease(_file, spooled.Offset + start + copied, read);
            copied += read;
        }
    }

    public void Dispose() => _file.Dispose();

    /// <summary>
    /// One content's region of the spool. All-zero blocks (sparse holes, zero runs) are left
    /// unwritten, as every store and the cache's objects leave them: the spool's holes are then a
    /// function of the content alone, whether it came from a layer or from a cache object.
    /// </summary>
    private readonly struct RegionSink(SafeFileHandle file, long regionStart) : IContentSink
    {
        public static int HoleAlignment => (int)SpoolBlock;

        public static int ZeroBlockSize => (int)SpoolBlock;

        public static bool ReadsWholeChunks => true;

        public ValueTask WriteAsync(byte[] buffer, int start, int length, long offset, CancellationToken cancellationToken) =>
            RandomAccess.WriteAsync(file, buffer.AsMemory(start, length), regionStart + offset, cancellationToken);
    }

    private sealed class SpooledContent(long offset, long size) : ContentRef(size)
    {
        public long Offset { get; } = offset;
    }
}
