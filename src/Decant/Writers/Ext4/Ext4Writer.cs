using System.Security.Cryptography;
using Decant.Interop;
using Decant.Model;
using Decant.Tree;
using Decant.Writers.Verity;
using Microsoft.Win32.SafeHandles;

namespace Decant.Writers.Ext4;

/// <summary>
/// Writes the merged tree as an ext4 filesystem image, in one streaming pass over file data and
/// with no external tools or privileges. File contents go straight into data blocks of the image
/// as layers stream (all-zero blocks become holes); <see cref="CommitAsync"/> lays out everything
/// else: inodes, directories (htree for large ones), extent trees, xattrs, a JBD2 journal, bitmaps,
/// group descriptors and superblocks, with metadata_csum. The output is deterministic: the UUID and
/// hash seed come from <see cref="Ext4WriterOptions.Seed"/> and every time from the tree. With
/// <see cref="Ext4WriterOptions.Verity"/>, a dm-verity hash tree follows the filesystem. The image
/// is written under a temporary name and renamed at commit; disposing without a commit removes it.
/// </summary>
internal sealed class Ext4Writer : IRootfsWriter
{
    /// <summary>The largest image written without a fixed size (the superblock zones are sized for it).</summary>
    public const long MaxAutomaticSize = 1L << 40;

    private readonly Ext4WriterOptions _options;
    private readonly AtomicOutputFile _output;
    private readonly SafeFileHandle _file;
    private readonly GroupLayout _layout;
    private readonly BlockAllocator _allocator;
    private readonly Ext4ContentStore _store;
    private VerityDataDigests? _dataDigests;
    private int _state; // 0 open, 1 committing, 2 committed, 3 disposed

    private Ext4Writer(Ext4WriterOptions options, AtomicOutputFile output, SafeFileHandle file, GroupLayout layout)
    {
        _options = options;
        _output = output;
        _file = file;
        _layout = layout;
        _allocator = new BlockAllocator(layout);
        _allocator.AllocateFileAhead((start, blocks) => FileAllocation.TryAllocate(file, start * Ext4Constants.BlockSize, blocks * Ext4Constants.BlockSize));
        // With verity, the files' data is hashed behind the writing, on the cores the layers leave idle.
        _dataDigests = options.Verity is { } verity ? DiskImageVerity.StartDataDigests(file, verity, options.Seed.ToArray(), output.ParentDirectory) : null;
        _store = new Ext4ContentStore(file, _allocator, output.ParentDirectory, _dataDigests);
    }

    /// <summary>Checks the output path and opens the temporary image file next to it.</summary>
    public static Ext4Writer Create(Ext4WriterOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.CheckOutput();
        string full = AtomicOutputFile.Check(options.Output, options.Force, "an ext4 output");
        if (options.Size is { } size && size < MinimumSize)
        {
            throw new DecantException(DecantErrorKind.Usage, $"an ext4 image of {size} bytes is too small; the minimum is {MinimumSize} bytes");
        }
        options.Verity?.Check();
        if (options.FreeSpaceBytes < 0 || options.FreeInodes < 0)
        {
            throw new DecantException(DecantErrorKind.Usage, "free space and free inodes cannot be negative");
        }
        const long GroupBytes = (long)Ext4Constants.BlockSize * Ext4Constants.BlocksPerGroup;
        long maxGroups = (Math.Max(MaxAutomaticSize, options.Size ?? 0) + GroupBytes - 1) / GroupBytes;
        var output = AtomicOutputFile.PrepareImage(full, options.Force, options.Output, out var file);
        return new Ext4Writer(options, output, file, new GroupLayout(maxGroups));
    }

    /// <summary>The smallest image this writer makes with a fixed size.</summary>
    public const long MinimumSize = 4L << 20;

    /// <summary>Writes each file's bytes straight into data blocks of the image as layers stream; all-zero blocks become holes.</summary>
    public IContentStore Content => _store;

    /// <summary>Xattr names that ext4 has no namespace for, left out of the image.</summary>
    public IReadOnlyList<string> SkippedXattrs { get; private set; } = [];

    /// <summary>Lays out the rest of the filesystem around the stored contents, then renames the temporary image to the output. Commits once.</summary>
    /// <exception cref="InvalidOperationException">Commit was already called (even if it failed), or the writer was disposed.</exception>
    public async Task<WriteSummary> CommitAsync(MergedTree tree, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(tree);
        if (Interlocked.CompareExchange(ref _state, 1, 0) != 0)
        {
            throw new InvalidOperationException("an ext4 writer commits once, before it is disposed");
        }
        var identity = DeriveIdentity(_options.Seed);
        var builder = new ImageBuilder(_file, _allocator, _layout, _options, identity.Uuid, identity.HashSeed);
        var summary = await builder.BuildAsync(tree, _store, _dataDigests is null ? null : _dataDigests.Seal, cancellationToken).ConfigureAwait(false);
        SkippedXattrs = builder.SkippedXattrs;
        VerityResult? verity = null;
        if (_options.Verity is { } verityOptions)
        {
            // The filesystem is complete and the file is exactly its size: the tree follows it.
            long filesystemBytes = RandomAccess.GetLength(_file);
            verity = await DiskImageVerity.AppendAsync(_file, filesystemBytes, verityOptions, _options.Seed.ToArray(), _dataDigests, cancellationToken).ConfigureAwait(false);
        }
        await DisposeDataDigestsAsync().ConfigureAwait(false);
        _output.Commit();
        _state = 2;
        return summary with { SkippedXattrs = SkippedXattrs.Count, Verity = verity };
    }

    /// <summary>Closes the image file and, unless the writer committed, deletes the temporary image.</summary>
    public async ValueTask DisposeAsync()
    {
        Volatile.Write(ref _state, 3);
        await DisposeDataDigestsAsync().ConfigureAwait(false);
        _output.Dispose();
    }

    private async ValueTask DisposeDataDigestsAsync()
    {
        if (Interlocked.Exchange(ref _dataDigests, null) is { } digests)
        {
            await digests.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>The filesystem UUID (RFC 4122 variant, version 5 bits) and directory hash seed, both from the seed bytes.</summary>
    internal static (byte[] Uuid, uint[] HashSeed) DeriveIdentity(IReadOnlyList<byte> seed)
    {
        byte[] material = [.. seed];
        byte[] uuid = DerivedUuid.From([.. "decant ext4 uuid\0"u8, .. material]);
        byte[] hash = SHA256.HashData([.. "decant ext4 hash seed\0"u8, .. material]);
        var words = new uint[4];
        for (int i = 0; i < 4; i++)
        {
            words[i] = System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(hash.AsSpan(4 * i));
        }
        return (uuid, words);
    }
}
