using Decant.Blobs;
using Decant.Interop;
using Decant.Model;
using Microsoft.Win32.SafeHandles;

namespace Decant.Sources.ContainersStorage;

/// <summary>
/// A tar of an overlay layer's diff directory, for a layer whose tar-split record is missing: the
/// directory walked in byte order of names, each entry as a PAX tar entry with its mode, owner,
/// nanosecond mtime and xattrs, hardlinks within the layer as link entries. Overlay's own markings
/// become OCI's: a 0/0 character device (or a file marked <c>overlay.whiteout</c>) is the whiteout
/// <c>.wh.NAME</c>, a directory marked <c>overlay.opaque=y</c> gets <c>.wh..wh..opq</c>, and the
/// <c>trusted.overlay.*</c> and <c>user.overlay.*</c> attributes are not the image's.
/// </summary>
/// <remarks>
/// These are not the bytes the layer was made from, so its diff_id cannot be checked
/// (<see cref="IImageSource.CanVerify"/>); the tree it gives is the layer's. Nothing is followed:
/// every name is opened relative to its parent's descriptor without following a symlink, and a
/// file must still be the one that was looked at when it is opened. Redirected and metacopy-only
/// entries (overlay features a layer tar cannot say) are errors naming the entry; sockets are left
/// out, as every tar writer does.
/// </remarks>
internal sealed class DiffDirectoryLayerStream : StoredLayerStream
{
    /// <summary>Headers of entries without data are gathered into runs of about this size.</summary>
    private const int SegmentSize = 64 * 1024;

    private static readonly string[] OverlayPrefixes = ["trusted.overlay.", "user.overlay."];

    private readonly ConfinedRoot _root;
    private readonly Stack<Level> _levels = new();
    private readonly Dictionary<(uint Major, uint Minor, ulong Inode), string> _firstLinks = [];
    private (SafeFileHandle File, long Size, string Name)? _openedFile;
    private long _pendingPadding;

    /// <summary>A directory being walked: its descriptor, its path in the layer (with a trailing slash, empty for the root), its sorted names and the next one.</summary>
    private sealed class Level(SafeFdHandle directory, string prefix, List<string> names) : IDisposable
    {
        public SafeFdHandle Directory { get; } = directory;
        public string Prefix { get; } = prefix;
        public List<string> Names { get; } = names;
        public int Next { get; set; }
        public void Dispose() => Directory.Dispose();
    }

    private DiffDirectoryLayerStream(ConfinedRoot root, string layerName)
        : base(layerName) => _root = root;

    /// <summary>Opens the walk of <paramref name="layerDirectory"/>.</summary>
    public static DiffDirectoryLayerStream Open(string layerDirectory, string layerName)
    {
        ConfinedRoot root;
        try
        {
            root = ConfinedRoot.Open(layerDirectory);
        }
        catch (DecantException error)
        {
            throw new DecantException(DecantErrorKind.InvalidLayer, $"{layerName}: cannot open the layer's directory {layerDirectory}: {error.Message}", error);
        }
        var stream = new DiffDirectoryLayerStream(root, layerName);
        try
        {
            stream.Enter(Posix.OpenAt(root.Handle, ".", LibC.O_PATH | LibC.O_DIRECTORY, 0, root.DisplayPath), "");
            return stream;
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    /// <summary>Takes the headers of the next entries (with the padding of the last file before them), up to and with the next file whose data follows.</summary>
    protected override async ValueTask NextEntryAsync(CancellationToken cancellationToken)
    {
        using var segment = new MemoryStream();
        await TarHeaderWriter.WritePaddingAsync(segment, _pendingPadding, cancellationToken).ConfigureAwait(false);
        _pendingPadding = 0;
        while (segment.Length < SegmentSize)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (NextName() is not var (level, name))
            {
                await TarHeaderWriter.WriteEndAsync(segment, cancellationToken).ConfigureAwait(false);
                ServeSegment(segment.ToArray());
                ServeEnd();
                return;
            }
            await WriteEntryAsync(segment, level, name, cancellationToken).ConfigureAwait(false);
            if (_openedFile is { } file)
            {
                _openedFile = null;
                ServeSegment(segment.ToArray());
                ServeFile(file.File, file.Size, file.Name);
                _pendingPadding = file.Size;
                return;
            }
        }
        ServeSegment(segment.ToArray());
    }

    /// <summary>The next name of the walk (a directory's entries right after its own), or null at its end.</summary>
    private (Level Level, string Name)? NextName()
    {
        while (_levels.TryPeek(out var level))
        {
            if (level.Next < level.Names.Count)
            {
                return (level, level.Names[level.Next++]);
            }
            _levels.Pop().Dispose();
        }
        return null;
    }

    private void Enter(SafeFdHandle directory, string prefix)
    {
        try
        {
            var names = Posix.ListDirectory(directory, _root.Describe(prefix));
            names.Sort(StringComparer.Ordinal);
            _levels.Push(new Level(directory, prefix, names));
        }
        catch
        {
            directory.Dispose();
            throw;
        }
    }

    private async ValueTask WriteEntryAsync(MemoryStream segment, Level level, string name, CancellationToken cancellationToken)
    {
        string path = level.Prefix + name;
        string display = _root.Describe(path);
        var status = Posix.StatAt(level.Directory, name, display);
        uint type = status.Mode & LibC.S_IFMT;
        var xattrs = ReadXattrs(level.Directory, name, type, display, out bool opaque, out bool markedWhiteout);
        var mtime = new Timestamp(status.ModificationTime.Seconds, status.ModificationTime.Nanoseconds);
        TarRecord Record(string recordName, char flag, long size = 0, string link = "", uint major = 0, uint minor = 0) =>
            new(recordName, flag, status.Mode & 0xFFFu, status.Uid, status.Gid, size, mtime, link, major, minor, xattrs);

        if ((type == LibC.S_IFCHR && status.RdevMajor == 0 && status.RdevMinor == 0) || markedWhiteout)
        {
            var whiteout = new TarRecord(level.Prefix + ".wh." + name, '0', 0, status.Uid, status.Gid, 0, mtime, "", 0, 0, []);
            await TarHeaderWriter.WriteAsync(segment, whiteout, cancellationToken).ConfigureAwait(false);
            return;
        }
        switch (type)
        {
            case LibC.S_IFDIR:
                await TarHeaderWriter.WriteAsync(segment, Record(path + "/", '5'), cancellationToken).ConfigureAwait(false);
                if (opaque)
                {
                    var marker = new TarRecord(path + "/.wh..wh..opq", '0', 0, status.Uid, status.Gid, 0, mtime, "", 0, 0, []);
                    await TarHeaderWriter.WriteAsync(segment, marker, cancellationToken).ConfigureAwait(false);
                }
                Enter(Posix.OpenAt(level.Directory, name, LibC.O_PATH | LibC.O_DIRECTORY | LibC.O_NOFOLLOW, 0, display), path + "/");
                break;
            case LibC.S_IFREG:
                if (status.LinkCount > 1)
                {
                    var key = (status.DevMajor, status.DevMinor, status.Inode);
                    if (_firstLinks.TryGetValue(key, out string? first))
                    {
                        await TarHeaderWriter.WriteAsync(segment, Record(path, '1', link: first), cancellationToken).ConfigureAwait(false);
                        break;
                    }
                    _firstLinks[key] = path;
                }
                await TarHeaderWriter.WriteAsync(segment, Record(path, '0', (long)status.Size), cancellationToken).ConfigureAwait(false);
                if (status.Size > 0)
                {
                    _openedFile = (OpenRegularFile(level.Directory, name, status, display), (long)status.Size, NameBytes.Escape(path));
                }
                break;
            case LibC.S_IFLNK:
                await TarHeaderWriter.WriteAsync(segment, Record(path, '2', link: Posix.ReadLinkAt(level.Directory, name, display)), cancellationToken).ConfigureAwait(false);
                break;
            case LibC.S_IFCHR:
            case LibC.S_IFBLK:
                await TarHeaderWriter.WriteAsync(segment, Record(path, type == LibC.S_IFCHR ? '3' : '4', major: status.RdevMajor, minor: status.RdevMinor), cancellationToken).ConfigureAwait(false);
                break;
            case LibC.S_IFIFO:
                await TarHeaderWriter.WriteAsync(segment, Record(path, '6'), cancellationToken).ConfigureAwait(false);
                break;
            default:
                break; // a socket: no tar can hold one
        }
    }

    /// <summary>Opens a regular file for its data, failing unless it is still the file that was looked at.</summary>
    private SafeFileHandle OpenRegularFile(SafeFdHandle directory, string name, LibC.Statx expected, string display)
    {
        var handle = Posix.TryOpenAt(directory, name, LibC.O_RDONLY | LibC.O_NOFOLLOW | LibC.O_NONBLOCK, 0, out int errno)
            ?? throw Invalid($"cannot open {display}: {Posix.Failure("openat", display, errno).Message}");
        var file = new SafeFileHandle(handle.DangerousGetHandle(), ownsHandle: true);
        handle.SetHandleAsInvalid();
        var opened = Posix.Stat(file, display);
        if (opened.Inode != expected.Inode || opened.Size != expected.Size || (opened.Mode & LibC.S_IFMT) != LibC.S_IFREG)
        {
            file.Dispose();
            throw Invalid($"{display} changed while the layer was read (changed in the store?)");
        }
        return file;
    }

    /// <summary>
    /// The entry's xattrs, sorted by name, without overlay's own; says whether they mark an opaque
    /// directory or a whiteout. A redirect or metacopy marking is an error: no layer tar says it.
    /// </summary>
    private List<KeyValuePair<string, byte[]>> ReadXattrs(SafeFdHandle directory, string name, uint type, string display, out bool opaque, out bool whiteout)
    {
        opaque = false;
        whiteout = false;
        var xattrs = new List<KeyValuePair<string, byte[]>>();
        string through = Posix.PathThroughDescriptor(directory, name);
        IReadOnlyList<string> names;
        try
        {
            names = Posix.ListXattrsNoFollow(through);
        }
        catch (NativeIOException error) when (error.Errno == LibC.EOPNOTSUPP)
        {
            return xattrs;
        }
        foreach (string attribute in names)
        {
            string? overlay = OverlayPrefixes.FirstOrDefault(prefix => attribute.StartsWith(prefix, StringComparison.Ordinal));
            if (overlay is null)
            {
                if (Posix.GetXattrNoFollow(through, attribute) is { } value)
                {
                    xattrs.Add(new(attribute, value));
                }
                continue;
            }
            switch (attribute[overlay.Length..])
            {
                case "opaque" when type == LibC.S_IFDIR:
                    opaque = Posix.GetXattrNoFollow(through, attribute) is [(byte)'y'];
                    break;
                case "whiteout" when type == LibC.S_IFREG:
                    whiteout = true;
                    break;
                case "redirect" or "metacopy":
                    throw Invalid($"{display} is marked {attribute}, an overlay feature no layer tar can express");
                default:
                    break;
            }
        }
        xattrs.Sort(static (a, b) => string.CompareOrdinal(a.Key, b.Key));
        return xattrs;
    }

    protected override void ReleaseResources()
    {
        _openedFile?.File.Dispose();
        while (_levels.TryPop(out var level))
        {
            level.Dispose();
        }
        _root.Dispose();
    }
}
