using Decant.Model;
using Decant.Tree;
using Decant.Writers.Verity;
using Microsoft.Win32.SafeHandles;

namespace Decant.Writers.Erofs;

/// <summary>
/// Writes the merged tree as an EROFS filesystem image, in one streaming pass over file data and
/// with no external tools or privileges. File contents go straight into blocks of the image as
/// layers stream (all-zero blocks become holes, last partial blocks wait in a spool);
/// <see cref="CommitAsync"/> lays out the rest after them: directories, inodes with their xattrs
/// and inline tails, shared xattrs, and the checksummed superblock. The output is deterministic:
/// the UUID comes from <see cref="ErofsWriterOptions.Seed"/> and every time from the tree. The
/// image is written under a temporary name and renamed at commit; disposing without a commit removes it.
/// </summary>
internal sealed class ErofsWriter : IRootfsWriter
{
    private readonly ErofsWriterOptions _options;
    private readonly AtomicOutputFile _output;
    private readonly SafeFileHandle _file;
    private readonly ErofsBlockAllocator _allocator = new();
    private readonly ErofsContentStore _store;
    private VerityDataDigests? _dataDigests;
    private int _state; // 0 open, 1 committing, 2 committed, 3 disposed

    private ErofsWriter(ErofsWriterOptions options, AtomicOutputFile output, SafeFileHandle file)
    {
        _options = options;
        _output = output;
        _file = file;
        // With verity, the files' data is hashed behind the writing, on the cores the layers leave idle.
        _dataDigests = options.Verity is { } verity ? DiskImageVerity.StartDataDigests(file, verity, options.Seed.ToArray(), output.ParentDirectory) : null;
        _store = new ErofsContentStore(file, _allocator, output.ParentDirectory,
            options.Compression == ErofsCompression.None ? null : new ErofsCompressor(options.Compression, options.PhysicalClusterSize), _dataDigests);
    }

    /// <summary>Checks the output path and opens the temporary image file next to it.</summary>
    public static ErofsWriter Create(ErofsWriterOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.CheckOutput();
        string full = AtomicOutputFile.Check(options.Output, options.Force, "an EROFS output");
        if (options.PhysicalClusterSize % ErofsConstants.BlockSize != 0 || options.PhysicalClusterSize < MinimumPhysicalClusterSize || options.PhysicalClusterSize > ErofsWriterOptions.MaxPhysicalClusterSize)
        {
            throw new DecantException(DecantErrorKind.Usage, $"an EROFS physical cluster of {options.PhysicalClusterSize} bytes is not a multiple of 4 KiB from {MinimumPhysicalClusterSize} to {ErofsWriterOptions.MaxPhysicalClusterSize} bytes");
        }
        options.Verity?.Check();
        var output = AtomicOutputFile.PrepareImage(full, options.Force, options.Output, out var file);
        return new ErofsWriter(options, output, file);
    }

    /// <summary>The smallest physical cluster: two blocks (a one-block cluster never shrinks by a block).</summary>
    public const int MinimumPhysicalClusterSize = 2 * ErofsConstants.BlockSize;

    /// <summary>Writes each file's whole blocks straight into the image as layers stream; all-zero blocks become holes.</summary>
    public IContentStore Content => _store;

    /// <summary>Xattr names that EROFS has no name prefix for, left out of the image.</summary>
    public IReadOnlyList<string> SkippedXattrs { get; private set; } = [];

    /// <summary>Lays out the rest of the filesystem after the stored contents, then renames the temporary image to the output. Commits once.</summary>
    /// <exception cref="InvalidOperationException">Commit was already called (even if it failed), or the writer was disposed.</exception>
    public async Task<WriteSummary> CommitAsync(MergedTree tree, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(tree);
        if (Interlocked.CompareExchange(ref _state, 1, 0) != 0)
        {
            throw new InvalidOperationException("an EROFS writer commits once, before it is disposed");
        }
        var builder = new ErofsImageBuilder(_file, _allocator, _store, DerivedUuid.From([.. "decant erofs uuid\0"u8, .. _options.Seed]));
        var summary = await builder.BuildAsync(tree, _options.PhysicalClusterSize >> ErofsConstants.BlockShift, _dataDigests is null ? null : _dataDigests.Seal, cancellationToken).ConfigureAwait(false);
        SkippedXattrs = builder.SkippedXattrs;
        _store.Dispose();
        VerityResult? verity = null;
        if (_options.Verity is { } verityOptions)
        {
            // The filesystem is complete and the file is exactly its size: the tree follows it.
            verity = await DiskImageVerity.AppendAsync(_file, RandomAccess.GetLength(_file), verityOptions, _options.Seed.ToArray(), _dataDigests, cancellationToken).ConfigureAwait(false);
        }
        await DisposeDataDigestsAsync().ConfigureAwait(false);
        _output.Commit();
        _state = 2;
        return summary with { SkippedXattrs = SkippedXattrs.Count, Verity = verity };
    }

    /// <summary>Closes the image file and the spools and, unless the writer committed, deletes the temporary image.</summary>
    public async ValueTask DisposeAsync()
    {
        Volatile.Write(ref _state, 3);
        await DisposeDataDigestsAsync().ConfigureAwait(false);
        _store.Dispose();
        _output.Dispose();
    }

    private async ValueTask DisposeDataDigestsAsync()
    {
        if (Interlocked.Exchange(ref _dataDigests, null) is { } digests)
        {
            await digests.DisposeAsync().ConfigureAwait(false);
        }
    }
}
