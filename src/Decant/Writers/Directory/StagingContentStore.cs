using System.Globalization;
using Decant.Interop;
using Decant.Model;
using Decant.Tree;
using Microsoft.Win32.SafeHandles;

namespace Decant.Writers.Directory;

/// <summary>
/// The directory writer's content store: each file's bytes go to their own file in a private
/// staging directory inside the target (same filesystem), so commit only moves them into place.
/// The staged files are spread over small subdirectories of it, <see cref="FilesPerShard"/> each: a
/// create or rename in one huge directory searches its entries (ext4 scans a block of hundreds of
/// them per lookup, and both layers' writers wait on the one directory's lock).
/// Runs of zero blocks are not written, which leaves holes. A content stored with its file's
/// metadata (<see cref="FileMetadataHint"/>) gets its owner, mode and times at once, through the
/// descriptor it was written by, so commit only moves it into place. Safe for concurrent writers.
/// </summary>
internal sealed class StagingContentStore : IContentStore, IHintedContentStore, IFileContentStore, IDisposable
{
    /// <summary>How much is read from a layer stream and handed to the kernel at once, at the most.</summary>
    public const int BufferSize = ContentCopy.ChunkSize;

    /// <summary>The granularity of hole detection: whole, aligned, all-zero blocks of this size are skipped.</summary>
    public const int HoleBlockSize = 4096;

    private const uint StagingFileMode = 0x180; // 0600
    private const uint StagingDirectoryMode = 0x1C0; // 0700

    private readonly ConfinedRoot _root;
    private readonly OwnershipMode _ownership;
    private readonly uint _creationMask;
    private long _counter;
    private long _skippedXattrs;
    private volatile bool _cannotReflink;

    private StagingContentStore(ConfinedRoot root, string directoryName, SafeFdHandle directory, OwnershipMode ownership)
    {
        _root = root;
        DirectoryName = directoryName;
        Directory = directory;
        _ownership = ownership;
        _creationMask = CreationMask();
    }

    /// <summary>
    /// The permission bits a file created in the staging directory keeps of those asked for (the
    /// process's umask, or the directory's default ACL), found once by creating a probe with 0777.
    /// A staged file whose permissions all survive is created with them, so no fchmod follows.
    /// </summary>
    private uint CreationMask()
    {
        const string Probe = "probe";
        using (var probe = Posix.CreateFileAt(Directory, Probe, 0x1FF, Describe(Probe)))
        {
            uint kept = Posix.Stat(probe, Describe(Probe)).Mode & 0x1FFu;
            Posix.UnlinkAt(Directory, Probe, 0, Describe(Probe));
            return kept;
        }
    }

    /// <summary>
    /// The mode a staged file is created with: its final permissions when its metadata is known and
    /// creation keeps them all (no setuid, setgid or sticky bit: chown clears the first two, and those
    /// are set last); otherwise 0600, and the mode is set with the rest of its metadata.
    /// </summary>
    private uint CreationModeOf(FileMetadataHint? hint, out bool modeIsFinal)
    {
        uint permissions = (hint?.Mode ?? 0) & 0xFFF;
        modeIsFinal = hint is not null && (permissions & ~_creationMask) == 0;
        return modeIsFinal ? permissions : StagingFileMode;
    }

    /// <summary>Attributes left out of files given their metadata while staged (see <see cref="MetadataApplier"/>).</summary>
    public long SkippedXattrs => Interlocked.Read(ref _skippedXattrs);

    /// <summary>The staging directory's name inside the target.</summary>
    public string DirectoryName { get; }

    /// <summary>The staging directory, the source directory of every move at commit.</summary>
    public SafeFdHandle Directory { get; }

    public static StagingContentStore Create(ConfinedRoot root, OwnershipMode ownership)
    {
        var name = ".decant-staging-" + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(8));
        Posix.MkdirAt(root.Handle, name, StagingDirectoryMode, root.Describe(name));
        return new StagingContentStore(root, name, root.OpenDirectory(name), ownership);
    }

    /// <summary>How many staged files share one subdirectory of the staging directory.</summary>
    internal const int FilesPerShard = 64;

    /// <summary>The next staged file's name, a path relative to the staging directory: its subdirectory, then its number.</summary>
    private string NextName()
    {
        long number = Interlocked.Increment(ref _counter);
        return string.Create(CultureInfo.InvariantCulture, $"{number / FilesPerShard}/{number}");
    }

    /// <summary>Creates a staged file, and its subdirectory first when no file has made it yet.</summary>
    private SafeFileHandle CreateStagedFile(string name, uint mode, string display)
    {
        int errno = Posix.TryCreateFileAt(Directory, name, mode, out var file);
        if (errno == 0)
        {
            return file!;
        }
        if (errno != LibC.ENOENT)
        {
            throw Posix.Failure("openat", display, errno);
        }
        string shard = name[..name.IndexOf('/', StringComparison.Ordinal)];
        int mkdirErrno = Posix.TryMkdirAt(Directory, shard, StagingDirectoryMode);
        if (mkdirErrno is not (0 or LibC.EEXIST))
        {
            throw Posix.Failure("mkdirat", Describe(shard), mkdirErrno);
        }
        return Posix.CreateFileAt(Directory, name, mode, display);
    }

    public ValueTask<ContentRef> WriteAsync(Stream data, long size, CancellationToken cancellationToken) =>
        WriteStagedAsync(data, size, hint: null, cancellationToken);

    /// <inheritdoc/>
    public ValueTask<ContentRef> WriteAsync(Stream data, long size, FileMetadataHint hint, CancellationToken cancellationToken) =>
        WriteStagedAsync(data, size, hint, cancellationToken);

    private async ValueTask<ContentRef> WriteStagedAsync(Stream data, long size, FileMetadataHint? hint, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentOutOfRangeException.ThrowIfNegative(size);
        var name = NextName();
        var display = Describe(name);
        try
        {
            using (var file = CreateStagedFile(name, CreationModeOf(hint, out bool modeIsFinal), display))
            {
                long dataEnd = await ContentCopy.CopyAsync(data, size, new FileSink(file), cancellationToken).ConfigureAwait(false);
                if (dataEnd < size)
                {
                    // The tail is a hole (or the whole file is): set the length without writing zeros.
                    Posix.Ftruncate(file, size, display);
                }
                Apply(file, hint, modeIsFinal, display);
            }
            return new StagedContent(this, name, size, hint);
        }
        catch
        {
            _ = Posix.TryUnlinkAt(Directory, name, 0);
            throw;
        }
    }

    /// <summary>
    /// Stages a file that shares the source's blocks (FICLONE) where the filesystem can, and is a
    /// kernel copy of its data ranges elsewhere: never a hardlink, since the tree is writable.
    /// </summary>
    public async ValueTask<PlacedContent> PlaceAsync(SafeFileHandle source, long size, FileMetadataHint? hint, CancellationToken cancellationToken)
    {
        var name = NextName();
        var display = Describe(name);
        try
        {
            bool reflinked;
            using (var file = CreateStagedFile(name, CreationModeOf(hint, out bool modeIsFinal), display))
            {
                reflinked = size > 0 && !_cannotReflink && RandomAccess.GetLength(source) == size && KernelCopy.TryClone(file, source);
                // Whether two filesystems share blocks does not change from file to file: asked once.
                _cannotReflink |= !reflinked && size > 0;
                if (!reflinked && size <= KernelCopy.SmallFileLimit)
                {
                    await KernelCopy.CopyThroughMemoryAsync(source, 0, file, 0, size, cancellationToken).ConfigureAwait(false);
                }
                else if (!reflinked)
                {
                    await KernelCopy.CopyDataAsync(source, size, file, 0, cancellationToken).ConfigureAwait(false);
                    Posix.Ftruncate(file, size, display);
                }
                Apply(file, hint, modeIsFinal, display);
            }
            return new PlacedContent(new StagedContent(this, name, size, hint), reflinked);
        }
        catch (IOException error)
        {
            _ = Posix.TryUnlinkAt(Directory, name, 0);
            throw new DecantException(DecantErrorKind.OutputError, $"cannot write {display}: {error.Message}", error);
        }
        catch
        {
            _ = Posix.TryUnlinkAt(Directory, name, 0);
            throw;
        }
    }

    /// <summary>Gives a staged file (its content complete) the metadata of <paramref name="hint"/>, when there is one (its mode only when creation did not).</summary>
    private void Apply(SafeFileHandle file, FileMetadataHint? hint, bool modeIsFinal, string display)
    {
        if (hint is null)
        {
            return;
        }
        var metadata = new MetadataApplier(_ownership);
        metadata.ApplyToDescriptor(file, new Inode { Kind = NodeKind.RegularFile, Mode = hint.Mode, Uid = hint.Uid, Gid = hint.Gid, ModificationTime = hint.ModificationTime, AccessTime = hint.AccessTime }, display, modeIsSet: modeIsFinal);
        Interlocked.Add(ref _skippedXattrs, metadata.SkippedXattrs);
    }

    public ValueTask ReleaseAsync(ContentRef content, CancellationToken cancellationToken)
    {
        var staged = Own(content);
        if (staged.TryRelease())
        {
            var errno = Posix.TryUnlinkAt(Directory, staged.FileName, 0);
            if (errno is not (0 or LibC.ENOENT))
            {
                throw Posix.Failure("unlinkat", Describe(staged.FileName), errno);
            }
        }
        return ValueTask.CompletedTask;
    }

    /// <summary>Takes a staged file out of the store's hands so commit can move it into the tree.</summary>
    public StagedContent Claim(ContentRef content, string treePath)
    {
        var staged = Own(content);
        return staged.TryClaim()
            ? staged
            : throw new InvalidOperationException($"the content of \"{treePath}\" was released or already placed at another inode");
    }

    /// <summary>Removes the staging directory and any content that was never placed or released.</summary>
    public void RemoveDirectory(CancellationToken cancellationToken) =>
        TreeRemover.RemoveEntry(_root.Handle, DirectoryName, _root.Describe(DirectoryName), cancellationToken);

    public void Dispose() => Directory.Dispose();

    private string Describe(string fileName) => _root.Describe(DirectoryName + "/" + fileName);

    private StagedContent Own(ContentRef content) =>
        content is StagedContent staged && staged.Store == this
            ? staged
            : throw new ArgumentException("the content was not written through this directory writer's store", nameof(content));

    /// <summary>One staged file: runs of data go to their offsets; all-zero blocks and holes stay holes.</summary>
    private readonly struct FileSink(SafeFileHandle file) : IContentSink
    {
        public static int HoleAlignment => HoleBlockSize;

        public static int ZeroBlockSize => HoleBlockSize;

        public static bool ReadsWholeChunks => true;

        public ValueTask WriteAsync(byte[] buffer, int start, int length, long offset, CancellationToken cancellationToken) =>
            RandomAccess.WriteAsync(file, buffer.AsMemory(start, length), offset, cancellationToken);
    }
}

/// <summary>One file's content, waiting in the staging directory under a numbered name.</summary>
internal sealed class StagedContent : ContentRef
{
    private const int Staged = 0;
    private const int Placed = 1;
    private const int Released = 2;
    private int _state;

    public StagedContent(StagingContentStore store, string fileName, long size, FileMetadataHint? applied)
        : base(size)
    {
        Store = store;
        FileName = fileName;
        Applied = applied;
    }

    /// <summary>The metadata the staged file was given (null: none, it is applied at commit).</summary>
    public FileMetadataHint? Applied { get; }

    public StagingContentStore Store { get; }

    /// <summary>The file's path inside the staging directory (its subdirectory, then its name).</summary>
    public string FileName { get; }

    public bool TryClaim() => Interlocked.CompareExchange(ref _state, Placed, Staged) == Staged;

    public bool TryRelease() => Interlocked.CompareExchange(ref _state, Released, Staged) == Staged;
}
