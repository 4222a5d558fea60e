using System.Collections.Concurrent;
using System.Globalization;
using Decant.Interop;
using Decant.Model;
using Decant.Tree;
using Microsoft.Win32.SafeHandles;

namespace Decant.Writers.Directory;

/// <summary>
/// The directory writer's content store: each file's bytes go to their own file inside the target
/// (same filesystem), so commit at most moves them into place.
/// <para>
/// A content stored with its entry's name (<see cref="FileMetadataHint.EntryName"/>) is written
/// straight at that path, in place, when nothing is there yet and only directories this store made
/// lie on the way (it makes the missing ones, 0700): in most images that is where the merged tree
/// has it, so commit leaves it there and saves a hardlink and an unlink per file (a fifth of a
/// directory export's system time on an apt-installed image). The layer rules still decide: commit
/// moves a content the tree has elsewhere, clears whatever is in the way of the tree's own nodes
/// (<see cref="ClearTheWay"/>), and removes the directories the tree does not have; a released
/// content is removed where it is.
/// </para>
/// <para>
/// Every other content goes to a private staging directory inside the target, spread over small
/// subdirectories of it, <see cref="FilesPerShard"/> each: a create or rename in one huge
/// directory searches its entries (ext4 scans a block of hundreds of them per lookup, and both
/// layers' writers wait on the one directory's lock).
/// </para>
/// Runs of zero blocks are not written, which leaves holes. A content stored with its file's
/// metadata (<see cref="FileMetadataHint"/>) gets its owner, mode and times at once, through the
/// descriptor it was written by. Safe for concurrent writers; the commit calls are for one thread.
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
    private readonly (uint Uid, uint Gid) _creationOwner;
    private long _counter;
    private long _skippedXattrs;
    private volatile bool _cannotReflink;
    private volatile bool _cannotPlaceInPlace;

    // The directories made on the way to contents written in place that commit has not taken for the
    // tree's; and the contents commit moved out of the way to the staging directory: their paths in
    // place, and their staged names (only one content is ever in place at one path).
    private readonly ConcurrentDictionary<string, byte> _directoriesMade = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _movedAside = new(StringComparer.Ordinal);

    private StagingContentStore(ConfinedRoot root, string directoryName, SafeFdHandle directory, OwnershipMode ownership)
    {
        _root = root;
        DirectoryName = directoryName;
        Directory = directory;
        _ownership = ownership;
        (_creationMask, _creationOwner) = ProbeCreation();
    }

    /// <summary>
    /// What a file created in the staging directory gets, found once by creating a probe with 0777:
    /// the permission bits it keeps of those asked for (the process's umask, or the directory's
    /// default ACL), and its owner. A file whose permissions all survive is created with them, so no
    /// fchmod follows; one whose owner is the probe's needs no fchown. Every directory a file is
    /// created in is this store's, made as the staging directory was, so every file gets the probe's
    /// owner (the group too: none of them is setgid unless the target is, and then so is the staging
    /// directory).
    /// </summary>
    private (uint Mask, (uint Uid, uint Gid) Owner) ProbeCreation()
    {
        const string Probe = "probe";
        using (var probe = Posix.CreateFileAt(Directory, Probe, 0x1FF, Describe(Probe)))
        {
            var status = Posix.Stat(probe, Describe(Probe));
            Posix.UnlinkAt(Directory, Probe, 0, Describe(Probe));
            return (status.Mode & 0x1FFu, (status.Uid, status.Gid));
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
        MakeShardOf(name);
        return Posix.CreateFileAt(Directory, name, mode, display);
    }

    /// <summary>Makes the subdirectory of the staging directory a staged name lies in, unless it is there.</summary>
    private void MakeShardOf(string stagedName)
    {
        string shard = stagedName[..stagedName.IndexOf('/', StringComparison.Ordinal)];
        int errno = Posix.TryMkdirAt(Directory, shard, StagingDirectoryMode);
        if (errno is not (0 or LibC.EEXIST))
        {
            throw Posix.Failure("mkdirat", Describe(shard), errno);
        }
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
        var (created, name, inPlace) = CreateContentFile(hint, CreationModeOf(hint, out bool modeIsFinal));
        var display = DescribeLocation(name, inPlace);
        try
        {
            using (var file = created)
            {
                long dataEnd = await ContentCopy.CopyAsync(data, size, new FileSink(file), cancellationToken).ConfigureAwait(false);
                if (dataEnd < size)
                {
                    // The tail is a hole (or the whole file is): set the length without writing zeros.
                    Posix.Ftruncate(file, size, display);
                }
                Apply(file, hint, modeIsFinal, display);
            }
            return new StagedContent(this, name, inPlace, size, hint);
        }
        catch
        {
            _ = RemoveFile(name, inPlace);
            throw;
        }
    }

    /// <summary>Creates the file a content is written to: in place when it can be (see the class summary), else in the staging directory.</summary>
    private (SafeFileHandle File, string Name, bool InPlace) CreateContentFile(FileMetadataHint? hint, uint mode)
    {
        if (InPlacePath(hint) is { } path && TryCreateInPlace(path, mode) is { } file)
        {
            return (file, path, true);
        }
        var name = NextName();
        return (CreateStagedFile(name, mode, Describe(name)), name, false);
    }

    /// <summary>
    /// The path a content is written at in place, from its entry's name: null when there is none, or
    /// the name is a whiteout's, lies under one, or starts in the staging directory. The content holds
    /// its path until commit: the entry's own name where it is clean already (most are; without the
    /// "./" some tools put in front), so a tree of many files does not hold each path twice.
    /// </summary>
    private string? InPlacePath(FileMetadataHint? hint)
    {
        if (_cannotPlaceInPlace || hint?.EntryName is not { } entryName)
        {
            return null;
        }
        var name = entryName.StartsWith("./", StringComparison.Ordinal) ? entryName[2..] : entryName;
        if (!IsCleanRelativePath(name))
        {
            if (!ArchivePath.TryClean(entryName, out var components) || components.Length == 0)
            {
                return null;
            }
            name = string.Join('/', components);
            if (!IsCleanRelativePath(name))
            {
                return null;
            }
        }
        int firstSlash = name.IndexOf('/', StringComparison.Ordinal);
        return name.AsSpan(0, firstSlash < 0 ? name.Length : firstSlash).SequenceEqual(DirectoryName) ? null : name;
    }

    /// <summary>Whether a path is components joined by single slashes, none of them ".", "..", a whiteout's (or under one), or holding a NUL.</summary>
    private static bool IsCleanRelativePath(string path)
    {
        if (path.Length == 0 || path.Contains('\0', StringComparison.Ordinal))
        {
            return false;
        }
        foreach (var range in path.AsSpan().Split('/'))
        {
            var component = path.AsSpan(range);
            if (component.IsEmpty || component is "." or ".." || component.StartsWith(Semantics.Whiteout.Prefix, StringComparison.Ordinal))
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>Creates a file at <paramref name="path"/>, making the directories missing on the way; null when anything is in the way (the content is staged instead).</summary>
    private SafeFileHandle? TryCreateInPlace(string path, uint mode)
    {
        int errno = _root.TryCreateFile(path, mode, out var file);
        if (errno == LibC.ENOENT && MakeDirectoriesTo(path))
        {
            errno = _root.TryCreateFile(path, mode, out file);
        }
        if (errno == LibC.ENOSYS)
        {
            _cannotPlaceInPlace = true; // no openat2: every content is staged
        }
        return file;
    }

    /// <summary>Makes the directories missing on the way to <paramref name="path"/> (0700, their metadata applied at commit); false when one cannot be made.</summary>
    private bool MakeDirectoriesTo(string path)
    {
        var missing = new Stack<string>();
        for (int slash = path.LastIndexOf('/'); slash > 0; slash = path.LastIndexOf('/', slash - 1))
        {
            string directory = path[..slash];
            int errno = _root.TryMakeDirectory(directory, StagingDirectoryMode);
            if (errno == 0)
            {
                _directoriesMade.TryAdd(directory, 0);
                break;
            }
            if (errno == LibC.EEXIST)
            {
                break; // made by another layer's reader, or a file, which the create then finds
            }
            if (errno != LibC.ENOENT)
            {
                return false;
            }
            missing.Push(directory);
        }
        while (missing.TryPop(out var directory))
        {
            int errno = _root.TryMakeDirectory(directory, StagingDirectoryMode);
            if (errno == 0)
            {
                _directoriesMade.TryAdd(directory, 0);
            }
            else if (errno != LibC.EEXIST)
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>
    /// Writes a file (in place where it can be, else staged) that shares the source's blocks (FICLONE)
    /// where the filesystem can, and is a kernel copy of its data ranges elsewhere: never a hardlink,
    /// since the tree is writable.
    /// </summary>
    public async ValueTask<PlacedContent> PlaceAsync(SafeFileHandle source, long size, FileMetadataHint? hint, CancellationToken cancellationToken)
    {
        var (created, name, inPlace) = CreateContentFile(hint, CreationModeOf(hint, out bool modeIsFinal));
        var display = DescribeLocation(name, inPlace);
        try
        {
            bool reflinked;
            using (var file = created)
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
            return new PlacedContent(new StagedContent(this, name, inPlace, size, hint), reflinked);
        }
        catch (IOException error)
        {
            _ = RemoveFile(name, inPlace);
            throw new DecantException(DecantErrorKind.OutputError, $"cannot write {display}: {error.Message}", error);
        }
        catch
        {
            _ = RemoveFile(name, inPlace);
            throw;
        }
    }

    /// <summary>Removes a content's file, in place or staged; returns 0 or the errno.</summary>
    private int RemoveFile(string name, bool inPlace) =>
        inPlace ? _root.TryRemoveFile(name) : Posix.TryUnlinkAt(Directory, name, 0);

    /// <summary>Gives a content's file (complete) the metadata of <paramref name="hint"/>, when there is one (its mode only when creation did not).</summary>
    private void Apply(SafeFileHandle file, FileMetadataHint? hint, bool modeIsFinal, string display)
    {
        if (hint is null)
        {
            return;
        }
        var metadata = new MetadataApplier(_ownership);
        bool ownerIsSet = hint.Uid == _creationOwner.Uid && hint.Gid == _creationOwner.Gid;
        metadata.ApplyToDescriptor(file, new Inode { Kind = NodeKind.RegularFile, Mode = hint.Mode, Uid = hint.Uid, Gid = hint.Gid, ModificationTime = hint.ModificationTime, AccessTime = hint.AccessTime }, display, modeIsSet: modeIsFinal, ownerIsSet: ownerIsSet);
        Interlocked.Add(ref _skippedXattrs, metadata.SkippedXattrs);
    }

    public ValueTask ReleaseAsync(ContentRef content, CancellationToken cancellationToken)
    {
        var staged = Own(content);
        if (staged.TryRelease())
        {
            var errno = RemoveFile(staged.FileName, staged.InPlace);
            if (errno is not (0 or LibC.ENOENT))
            {
                throw Posix.Failure("unlinkat", DescribeLocation(staged.FileName, staged.InPlace), errno);
            }
        }
        return ValueTask.CompletedTask;
    }

    /// <summary>
    /// Takes a content out of the store's hands for the tree's node at <paramref name="treePath"/>;
    /// <paramref name="inPlace"/> says it is already there, so commit leaves it, else commit moves it
    /// there (<see cref="MoveIntoPlace"/>).
    /// </summary>
    public StagedContent Claim(ContentRef content, string treePath, out bool inPlace)
    {
        var staged = Own(content);
        if (!staged.TryClaim())
        {
            throw new InvalidOperationException($"the content of \"{treePath}\" was released or already placed at another inode");
        }
        // The walk only moves a content aside for another node at its path, so one claimed for its own path is still there.
        inPlace = staged.InPlace && staged.FileName == treePath;
        return staged;
    }

    /// <summary>
    /// Moves a claimed content from where it is (staged, in place at another path, or moved aside from
    /// there) to <paramref name="name"/> in <paramref name="directory"/>. For after the walk: callers
    /// may move contents side by side.
    /// </summary>
    public void MoveIntoPlace(StagedContent content, SafeFdHandle directory, string name, string display)
    {
        if (!content.InPlace)
        {
            Posix.MoveFileNoReplace(Directory, content.FileName, directory, name, display);
            return;
        }
        if (_movedAside.TryGetValue(content.FileName, out var stagedName))
        {
            Posix.MoveFileNoReplace(Directory, stagedName, directory, name, display);
            return;
        }
        InParentOf(content.FileName, (source, leaf) => Posix.MoveFileNoReplace(source, leaf, directory, name, display));
    }

    /// <summary>
    /// Whether the tree's directory at <paramref name="path"/> was made on the way to a content
    /// written in place: it is the tree's from now on, and commit does not make it again.
    /// </summary>
    public bool TakeDirectoryMade(string path) => _directoriesMade.TryRemove(path, out _);

    /// <summary>
    /// Makes room for one of the tree's nodes at <paramref name="path"/> (<paramref name="name"/> in
    /// <paramref name="parent"/>), which the walk has not made yet: whatever is there was written by
    /// the readers. A content written in place there goes to the staging directory (commit moves it to
    /// where the tree has it, if anywhere); a directory made there, which the tree does not have, is
    /// removed once every content in place inside it has gone to the staging directory too.
    /// </summary>
    public void ClearTheWay(SafeFdHandle parent, string name, string path, CancellationToken cancellationToken)
    {
        if (Posix.TryStatAt(parent, name, out var status) != 0)
        {
            return; // nothing there (the usual case), or nothing this store can see: the create reports it
        }
        if ((status.Mode & LibC.S_IFMT) == LibC.S_IFREG)
        {
            MoveAside(parent, name, path);
            return;
        }
        if ((status.Mode & LibC.S_IFMT) != LibC.S_IFDIR || !_directoriesMade.TryRemove(path, out _))
        {
            return; // not this store's: the create fails on it and says what is there
        }
        using (var directory = _root.OpenDirectory(path))
        {
            MoveAsideEverythingIn(directory, path, cancellationToken);
        }
        string inside = path + "/";
        foreach (var made in _directoriesMade.Keys)
        {
            if (made.StartsWith(inside, StringComparison.Ordinal))
            {
                _directoriesMade.TryRemove(made, out _);
            }
        }
        TreeRemover.RemoveEntry(parent, name, _root.Describe(path), cancellationToken);
    }

    /// <summary>Moves every content in place inside a directory made on the way (at any depth) to the staging directory; the directories stay, for the caller to remove.</summary>
    private void MoveAsideEverythingIn(SafeFdHandle directory, string path, CancellationToken cancellationToken)
    {
        var pending = new Stack<string>();
        pending.Push(path);
        while (pending.TryPop(out var current))
        {
            cancellationToken.ThrowIfCancellationRequested();
            using var handle = ReferenceEquals(current, path) ? null : _root.OpenDirectory(current);
            var open = handle ?? directory;
            foreach (var child in Posix.ListDirectory(open, _root.Describe(current)))
            {
                string childPath = current + "/" + child;
                Posix.Check(Posix.TryStatAt(open, child, out var status), "statx", _root.Describe(childPath));
                switch (status.Mode & LibC.S_IFMT)
                {
                    case LibC.S_IFREG:
                        MoveAside(open, child, childPath);
                        break;
                    case LibC.S_IFDIR:
                        pending.Push(childPath);
                        break;
                }
            }
        }
    }

    /// <summary>Moves the content written in place at <paramref name="path"/> to the staging directory, under a new staged name.</summary>
    private void MoveAside(SafeFdHandle parent, string name, string path)
    {
        var stagedName = NextName();
        MakeShardOf(stagedName);
        Posix.MoveFileNoReplace(parent, name, Directory, stagedName, Describe(stagedName));
        _movedAside.Add(path, stagedName);
    }

    /// <summary>Removes the directories made on the way to contents in place that the tree does not have (after commit moved every content out of them).</summary>
    public void RemoveDirectoriesNotTaken(CancellationToken cancellationToken)
    {
        var left = _directoriesMade.Keys.ToList();
        _directoriesMade.Clear();
        left.Sort(StringComparer.Ordinal);
        string? removed = null;
        foreach (var directory in left)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (removed is not null && directory.StartsWith(removed + "/", StringComparison.Ordinal))
            {
                continue; // inside one removed already
            }
            RemoveMadeDirectory(directory, cancellationToken);
            removed = directory;
        }
    }

    private void RemoveMadeDirectory(string path, CancellationToken cancellationToken) =>
        InParentOf(path, (parent, leaf) => TreeRemover.RemoveEntry(parent, leaf, _root.Describe(path), cancellationToken));

    /// <summary>Runs <paramref name="operation"/> on a path inside the target as its last component in its (kernel-resolved) parent directory.</summary>
    private void InParentOf(string path, Action<SafeFdHandle, string> operation)
    {
        int slash = path.LastIndexOf('/');
        if (slash < 0)
        {
            operation(_root.Handle, path);
            return;
        }
        using var parent = _root.OpenDirectory(path[..slash]);
        operation(parent, path[(slash + 1)..]);
    }

    /// <summary>Removes the staging directory and any content that was never placed or released.</summary>
    public void RemoveDirectory(CancellationToken cancellationToken) =>
        TreeRemover.RemoveEntry(_root.Handle, DirectoryName, _root.Describe(DirectoryName), cancellationToken);

    public void Dispose() => Directory.Dispose();

    private string Describe(string fileName) => _root.Describe(DirectoryName + "/" + fileName);

    private string DescribeLocation(string name, bool inPlace) => inPlace ? _root.Describe(name) : Describe(name);

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

/// <summary>One file's content, written in place at its entry's path or waiting in the staging directory under a numbered name.</summary>
internal sealed class StagedContent : ContentRef
{
    private const int Staged = 0;
    private const int Placed = 1;
    private const int Released = 2;
    private int _state;

    public StagedContent(StagingContentStore store, string fileName, bool inPlace, long size, FileMetadataHint? applied)
        : base(size)
    {
        Store = store;
        FileName = fileName;
        InPlace = inPlace;
        Applied = applied;
    }

    /// <summary>Whether <see cref="FileName"/> is a path inside the target (the file was written in place), not inside the staging directory.</summary>
    public bool InPlace { get; }

    /// <summary>The metadata the staged file was given (null: none, it is applied at commit).</summary>
    public FileMetadataHint? Applied { get; }

    public StagingContentStore Store { get; }

    /// <summary>The file's path inside the target when <see cref="InPlace"/>, else inside the staging directory (its subdirectory, then its name).</summary>
    public string FileName { get; }

    public bool TryClaim() => Interlocked.CompareExchange(ref _state, Placed, Staged) == Staged;

    public bool TryRelease() => Interlocked.CompareExchange(ref _state, Released, Staged) == Staged;
}
