using System.Buffers;
using System.Runtime.InteropServices;
using Decant.Interop;
using Decant.Model;
using Decant.Tree;
using Microsoft.Win32.SafeHandles;

namespace Decant.Cache;

/// <summary>
/// Content objects, deduplicated by their fs-verity digest: <c>objects/XX/REST</c> (the digest's
/// first two hex digits, then the other 62), as composefs lays out its repository. An object is
/// written as an unnamed file (O_TMPFILE) or, where the filesystem lacks them, under a private name
/// in <c>tmp/</c>, hashed as it is written, and only then given its final name, so a reader never
/// sees a partial object and a crash leaves nothing, or only a temporary file (removed by <see cref="RemoveLeftovers"/>). Any number of processes may add the
/// same object at once: the kernel lets exactly one rename or link win, and the others find it present.
/// </summary>
internal sealed class ObjectStore
{
    /// <summary>The unit of zero detection and holes: the block size of the filesystems a cache lives on.</summary>
    private const int BlockSize = 4096;
    private static readonly SearchValues<char> LowerHex = SearchValues.Create("0123456789abcdef");
    private const uint ObjectMode = 0x1A4; // 0644
    private readonly string _objects;
    // Which objects/XX directories this process knows exist, so adding an object needs no mkdir.
    private readonly bool[] _prefixReady = new bool[256];
    private readonly string _temporary;
    private const int Unknown = 0, Supported = 1, Unsupported = 2;
    // Whether this store's filesystem has unnamed files that can be named later (O_TMPFILE and /proc).
    private volatile int _unnamedFiles;

    /// <summary>Opens (creating if needed) the store under <paramref name="root"/>; <paramref name="unnamedFiles"/> false writes every object under a private name, as where the filesystem has no unnamed files.</summary>
    public ObjectStore(string root, bool unnamedFiles = true)
    {
        _unnamedFiles = unnamedFiles ? Unknown : Unsupported;
        _objects = Path.Combine(root, "objects");
        _temporary = Path.Combine(root, "tmp");
        Directory.CreateDirectory(_objects);
        Directory.CreateDirectory(_temporary);
    }

    /// <summary>What adding one object did.</summary>
    /// <param name="Digest">The object's fs-verity digest (<c>sha256:HEX</c>).</param>
    /// <param name="AlreadyPresent">Whether the store held it already (this copy was discarded).</param>
    /// <param name="Cloned">Whether the object shares the blocks of the file it was given (a reflink) instead of holding a copy.</param>
    public readonly record struct Added(string Digest, bool AlreadyPresent, bool Cloned = false);

    /// <summary>The path of the object with <paramref name="digest"/> (<c>sha256:HEX</c>), present or not.</summary>
    public string PathOf(string digest)
    {
        string hex = HexOf(digest);
        return Path.Combine(_objects, hex[..2], hex[2..]);
    }

    /// <summary>Whether the object is in the store.</summary>
    public bool Contains(string digest) => File.Exists(PathOf(digest));

    /// <summary>Adds <paramref name="size"/> bytes of <paramref name="content"/> (see the overload that takes a file of the same content).</summary>
    public Task<Added> AddAsync(Stream content, long size, CancellationToken cancellationToken) => AddAsync(content, size, sameContent: null, cancellationToken);

    /// <summary>
    /// Copies exactly <paramref name="size"/> bytes of <paramref name="content"/> into the store and
    /// returns their digest. All-zero blocks and a sparse source's holes are hashed, not written: the
    /// object has holes there. The object is renamed into place only when complete. Given
    /// <paramref name="sameContent"/>, a file whose first <paramref name="size"/> bytes (and no more)
    /// are the same content, the object is made a reflink of it where the filesystem can, and
    /// <paramref name="content"/> is only hashed.
    /// </summary>
    /// <remarks>
    /// Objects are not flushed to disk one by one (an fsync per file would cost more than the whole
    /// conversion): a process that dies at any point loses nothing, as the page cache outlives it.
    /// After a power loss, a filesystem (ext4, XFS, btrfs) shows a file at its full size only once its
    /// data is on disk, and a record whose objects are not all present at their sizes is not trusted
    /// (<see cref="LayerCache.FindAsync"/>); <c>decant cache verify</c> checks every byte.
    /// </remarks>
    /// <exception cref="DecantException">The stream ended early (<see cref="DecantErrorKind.InvalidLayer"/>), or the disk failed or filled (<see cref="DecantErrorKind.IOError"/>).</exception>
    public async Task<Added> AddAsync(Stream content, long size, SafeFileHandle? sameContent, CancellationToken cancellationToken)
    {
        // An unnamed file where the filesystem has them (O_TMPFILE): one directory operation per
        // object instead of three, and nothing left behind by a crash. Else a private name in tmp/.
        var unnamed = TryCreateUnnamed();
        string? temporary = unnamed is null ? NewTemporaryPath() : null;
        try
        {
            // A plain open(2), no runtime file sharing (that would add a flock per object).
            using var file = unnamed ?? Posix.CreateFileAt(SafeFdHandle.CurrentDirectory, temporary!, ObjectMode, temporary!);
            string name;
            bool cloned = sameContent is not null && KernelCopy.TryClone(file, sameContent);
            if (!cloned)
            {
                // At its full size first, so no write extends the file: XFS reserves blocks speculatively
                // past the end of a file that grows, and reports the zero blocks left unwritten inside that
                // reservation as data until writeback, so the object's holes would not be known exactly.
                RandomAccess.SetLength(file, size);
            }
            var hashed = new HashedObject(file, writeData: !cloned);
            await ContentCopy.CopyAsync(content, size, new ObjectSink(hashed), cancellationToken).ConfigureAwait(false);
            name = hashed.Finish(size);
            string final = PathOf(name);
            int prefix = Convert.ToInt32(name.Substring(7, 2), 16);
            if (!Volatile.Read(ref _prefixReady[prefix]))
            {
                Directory.CreateDirectory(Path.GetDirectoryName(final)!);
                Volatile.Write(ref _prefixReady[prefix], true);
            }
            bool published = temporary is null ? LinkUnnamed(file, final) : PublishWithoutReplacing(temporary, final);
            if (!published && temporary is not null)
            {
                File.Delete(temporary);
            }
            return new Added(name, AlreadyPresent: !published, Cloned: cloned && published);
        }
        catch (IOException error)
        {
            DeleteTemporary(temporary);
            throw new DecantException(DecantErrorKind.IOError, $"cannot store content in the cache at {_objects}: {error.Message}", error);
        }
        catch
        {
            DeleteTemporary(temporary);
            throw;
        }
    }

    private static void DeleteTemporary(string? temporary)
    {
        if (temporary is not null)
        {
            TryDelete(temporary);
        }
    }

    /// <summary>An unnamed file in <c>tmp/</c> to write an object into; null where the filesystem (or its /proc) cannot give it a name later, asked once.</summary>
    private SafeFileHandle? TryCreateUnnamed()
    {
        if (_unnamedFiles == Unknown)
        {
            _unnamedFiles = CanNameUnnamedFiles() ? Supported : Unsupported;
        }
        if (_unnamedFiles == Unsupported)
        {
            return null;
        }
        int fd = OpenUnnamed();
        return fd >= 0 ? new SafeFileHandle(fd, ownsHandle: true) : throw new IOException($"cannot create a file in {_temporary}: errno {Marshal.GetLastPInvokeError()}");
    }

    private int OpenUnnamed() => LibC.OpenAt(SafeFdHandle.CurrentDirectory, _temporary, LibC.O_TMPFILE | LibC.O_WRONLY | LibC.O_CLOEXEC, ObjectMode);

    /// <summary>
    /// Whether an unnamed file made here can be named: the filesystem must have O_TMPFILE, and naming
    /// one goes through /proc/self/fd (linkat with AT_EMPTY_PATH needs a capability). Tried once, on
    /// a file of its own (an unnamed file can be given a name only once).
    /// </summary>
    private bool CanNameUnnamedFiles()
    {
        int fd = OpenUnnamed();
        if (fd < 0)
        {
            return false; // EOPNOTSUPP, EISDIR or EINVAL: a filesystem or kernel without them
        }
        using var probe = new SafeFileHandle(fd, ownsHandle: true);
        string name = NewTemporaryPath();
        bool linked = LibC.LinkAt(SafeFdHandle.CurrentDirectory, $"/proc/self/fd/{fd}", SafeFdHandle.CurrentDirectory, name, LibC.AT_SYMLINK_FOLLOW) == 0;
        if (linked)
        {
            TryDelete(name);
        }
        return linked;
    }

    /// <summary>Gives the finished unnamed object its name unless that name exists (linkat never replaces); false when it was already there.</summary>
    private static bool LinkUnnamed(SafeFileHandle file, string final)
    {
        if (LibC.LinkAt(SafeFdHandle.CurrentDirectory, $"/proc/self/fd/{file.DangerousGetHandle()}", SafeFdHandle.CurrentDirectory, final, LibC.AT_SYMLINK_FOLLOW) == 0)
        {
            return true;
        }
        int errno = Marshal.GetLastPInvokeError();
        return errno == LibC.EEXIST ? false : throw new IOException(errno == LibC.ENOSPC ? "no space left on the device" : $"linkat {final}: errno {errno}");
    }

    /// <summary>An object being written (or, without <paramref name="writeData"/>, cloned and only hashed): its file and the digest of the bytes up to <see cref="_hashedTo"/> (the gaps between written runs are zeros).</summary>
    private sealed class HashedObject(SafeFileHandle file, bool writeData)
    {
        private readonly FsVerityDigest _digest = new();
        private long _hashedTo;

        public ValueTask WriteAsync(byte[] buffer, int start, int length, long offset, CancellationToken cancellationToken)
        {
            _digest.AppendZeros(offset - _hashedTo);
            _digest.Append(buffer.AsSpan(start, length));
            _hashedTo = offset + length;
            return writeData ? RandomAccess.WriteAsync(file, buffer.AsMemory(start, length), offset, cancellationToken) : ValueTask.CompletedTask;
        }

        public string Finish(long size)
        {
            _digest.AppendZeros(size - _hashedTo);
            return _digest.Finish();
        }
    }

    /// <summary>Writes an object's runs of data blocks and hashes them; zero blocks and holes stay holes (and hash as zeros).</summary>
    private readonly struct ObjectSink(HashedObject target) : IContentSink
    {
        public static int HoleAlignment => BlockSize;

        public static int ZeroBlockSize => BlockSize;

        public static bool ReadsWholeChunks => true;

        public ValueTask WriteAsync(byte[] buffer, int start, int length, long offset, CancellationToken cancellationToken) =>
            target.WriteAsync(buffer, start, length, offset, cancellationToken);
    }

    /// <summary>
    /// Opens an object for reading (by handle, so a writer can clone or copy it in the kernel); null
    /// when it is absent. A plain open(2): objects are immutable, so no lock is taken (the runtime's
    /// own file sharing would cost a flock per file).
    /// </summary>
    public SafeFileHandle? TryOpen(string digest)
    {
        int fd = LibC.OpenAt(SafeFdHandle.CurrentDirectory, PathOf(digest), LibC.O_RDONLY | LibC.O_CLOEXEC | LibC.O_NOCTTY, 0);
        if (fd >= 0)
        {
            return new SafeFileHandle(fd, ownsHandle: true);
        }
        int errno = Marshal.GetLastPInvokeError();
        return errno == LibC.ENOENT ? null : throw new IOException($"cannot open the cache object {PathOf(digest)}: errno {errno}");
    }

    /// <summary>The size of the object (one statx, nothing opened); null when it is absent.</summary>
    public unsafe long? SizeOf(string digest)
    {
        LibC.Statx status;
        if (LibC.StatxAt(SafeFdHandle.CurrentDirectory, PathOf(digest), 0, LibC.STATX_BASIC_STATS, &status) == 0)
        {
            return (long)status.Size;
        }
        int errno = Marshal.GetLastPInvokeError();
        return errno is LibC.ENOENT or LibC.ENOTDIR ? null : throw new IOException($"cannot stat the cache object {PathOf(digest)}: errno {errno}");
    }

    /// <summary>Whether the object's bytes still hash to its name; false when it is absent or damaged.</summary>
    public async Task<bool> VerifyAsync(string digest, CancellationToken cancellationToken)
    {
        string path = PathOf(digest);
        return File.Exists(path) && string.Equals(await FsVerityDigest.OfFileAsync(path, cancellationToken).ConfigureAwait(false), digest, StringComparison.Ordinal);
    }

    /// <summary>The digests of the objects in the store (files elsewhere under <c>objects/</c> are not objects and are left out).</summary>
    public IEnumerable<string> EnumerateObjects()
    {
        foreach (string directory in Directory.EnumerateDirectories(_objects))
        {
            string prefix = Path.GetFileName(directory);
            if (prefix.Length != 2 || !IsLowerHex(prefix))
            {
                continue;
            }
            foreach (string file in Directory.EnumerateFiles(directory))
            {
                string rest = Path.GetFileName(file);
                if (rest.Length == 62 && IsLowerHex(rest))
                {
                    yield return "sha256:" + prefix + rest;
                }
            }
        }
    }

    /// <summary>The files in the cache's <c>tmp/</c>: what running processes are writing, and what dead ones left.</summary>
    public IEnumerable<string> EnumerateTemporaryFiles() => Directory.EnumerateFiles(_temporary);

    /// <summary>
    /// A new private name in the cache's <c>tmp/</c>, for anything being written before it is
    /// published (objects, layer records): <c>PID.RANDOM</c>, so <see cref="RemoveLeftovers"/> knows
    /// whose it is.
    /// </summary>
    public string NewTemporaryPath() => Path.Combine(_temporary, $"{Environment.ProcessId}.{Guid.NewGuid():N}");

    /// <summary>Removes the temporary files of processes that no longer run (a crash or <c>kill -9</c> mid-write); returns how many.</summary>
    public int RemoveLeftovers()
    {
        int removed = 0;
        foreach (string file in Directory.EnumerateFiles(_temporary))
        {
            string name = Path.GetFileName(file);
            int dot = name.IndexOf('.', StringComparison.Ordinal);
            if (dot > 0 && int.TryParse(name.AsSpan(0, dot), out int pid) && pid != Environment.ProcessId && !Directory.Exists($"/proc/{pid}") && TryDelete(file))
            {
                removed++;
            }
        }
        return removed;
    }

    /// <summary>
    /// Moves the finished temporary file to its name unless that name exists: the kernel decides,
    /// atomically, which of several concurrent writers of one object wins (renameat2 with
    /// RENAME_NOREPLACE; link(2) where a filesystem lacks it). False when the object was already there.
    /// </summary>
    private static bool PublishWithoutReplacing(string temporary, string final)
    {
        var here = SafeFdHandle.CurrentDirectory;
        if (LibC.RenameAt2(here, temporary, here, final, LibC.RENAME_NOREPLACE) == 0)
        {
            return true;
        }
        int errno = Marshal.GetLastPInvokeError();
        if (errno == LibC.EEXIST)
        {
            return false;
        }
        if (errno != LibC.EINVAL && errno != LibC.ENOSYS)
        {
            throw new IOException($"renameat2 {temporary} -> {final}: errno {errno}");
        }
        if (LibC.LinkAt(here, temporary, here, final, 0) != 0)
        {
            errno = Marshal.GetLastPInvokeError();
            return errno == LibC.EEXIST ? false : throw new IOException($"link {temporary} -> {final}: errno {errno}");
        }
        File.Delete(temporary);
        return true;
    }

    private static string HexOf(string digest)
    {
        if (!Digest.TryParse(digest, out var parsed) || parsed.Algorithm != "sha256")
        {
            throw new ArgumentException($"not an fs-verity sha256 digest: \"{digest}\"", nameof(digest));
        }
        return parsed.Hex;
    }

    /// <summary>Whether <paramref name="text"/> is only lowercase hex digits, as the cache's file names are.</summary>
    internal static bool IsLowerHex(string text) => text.AsSpan().IndexOfAnyExcept(LowerHex) < 0;

    /// <summary>Removes a file; false when that fails (it is in use by no one here, so a failure is left for the next sweep).</summary>
    internal static bool TryDelete(string path)
    {
        try
        {
            File.Delete(path);
            return true;
        }
        catch (IOException)
        {
            return false;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }
}
