using System.Formats.Tar;
using Decant.Blobs;
using Decant.Interop;
using Decant.Model;
using Microsoft.Win32.SafeHandles;

namespace Decant.Sources.Archive;

/// <summary>
/// The table of contents of a plain (uncompressed) tar holding a handful of files — an
/// oci-archive or a docker-archive. Built with one pass over the headers (data is skipped by
/// seeking, never read or extracted); files are then served as <see cref="FileRangeStream"/>
/// windows of the archive. Names are normalized (<c>./</c> prefixes dropped); an entry whose name
/// is absolute or contains <c>..</c> makes the archive invalid. Symbolic and hard links between
/// entries (older <c>docker save</c> links duplicate layers) are followed inside the archive only.
/// </summary>
internal sealed class TarFileIndex : IAsyncDisposable
{
    private const int MaxLinkHops = 16;

    private readonly SafeFileHandle _file;
    private readonly Dictionary<string, TarFileEntry> _entries;

    private TarFileIndex(string archiveName, SafeFileHandle file, Dictionary<string, TarFileEntry> entries)
    {
        ArchiveName = archiveName;
        _file = file;
        _entries = entries;
    }

    /// <summary>The archive's reference, for messages.</summary>
    public string ArchiveName { get; }

    /// <summary>Indexes the tar at <paramref name="path"/>.</summary>
    public static async Task<TarFileIndex> OpenAsync(string path, string archiveName, CancellationToken cancellationToken)
    {
        // Opened without blocking and checked on the descriptor: a FIFO or a directory is refused, not waited on.
        var file = Posix.TryOpenForReading(path, noFollow: false, out var status, out int errno);
        if (file is null)
        {
            throw errno is LibC.ENOENT or LibC.ENOTDIR
                ? new DecantException(DecantErrorKind.NotFound, $"{archiveName}: file \"{path}\" does not exist")
                : Posix.Failure("open", path, errno);
        }
        if ((status.Mode & LibC.S_IFMT) != LibC.S_IFREG)
        {
            file.Dispose();
            throw new DecantException(DecantErrorKind.InvalidManifest, $"{archiveName}: \"{path}\" is a {Posix.FileTypeName(status.Mode)}, not a regular file: an image archive must be a regular file");
        }
        try
        {
            var entries = await ReadEntriesAsync(file, archiveName, cancellationToken).ConfigureAwait(false);
            return new TarFileIndex(archiveName, file, entries);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>The regular file stored (or linked) under <paramref name="name"/>, or null.</summary>
    public TarFileEntry? Find(string name)
    {
        string? current = Normalize(name);
        for (int hop = 0; current is not null && hop <= MaxLinkHops; hop++)
        {
            if (!_entries.TryGetValue(current, out var entry))
            {
                return null;
            }
            if (entry.LinkTarget is null)
            {
                return entry;
            }
            current = entry.LinkTarget;
        }
        return null;
    }

    /// <summary>Opens a window onto a file's bytes; valid while this index is not disposed.</summary>
    public Stream Open(TarFileEntry entry) => new FileRangeStream(_file, entry.DataOffset, entry.Length);

    public ValueTask DisposeAsync()
    {
        _file.Dispose();
        return ValueTask.CompletedTask;
    }

    private static async Task<Dictionary<string, TarFileEntry>> ReadEntriesAsync(SafeFileHandle file, string archiveName, CancellationToken cancellationToken)
    {
        var entries = new Dictionary<string, TarFileEntry>(StringComparer.Ordinal);
        var archive = new FileRangeStream(file, 0, RandomAccess.GetLength(file));
        await RejectCompressedAsync(archive, archiveName, cancellationToken).ConfigureAwait(false);
        var reader = new TarReader(archive, leaveOpen: true);
        await using (reader.ConfigureAwait(false))
        {
            while (await NextAsync(reader, archiveName, cancellationToken).ConfigureAwait(false) is { } entry)
            {
                string name = Normalize(entry.Name)
                    ?? throw new DecantException(DecantErrorKind.InvalidManifest, $"{archiveName}: unsafe entry name \"{entry.Name}\" (absolute or containing \"..\")");
                if (name.Length == 0)
                {
                    continue;
                }
                switch (entry.EntryType)
                {
                    case TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile:
                        entries[name] = new TarFileEntry(name, entry.DataOffset, entry.Length, null);
                        break;
                    case TarEntryType.SymbolicLink or TarEntryType.HardLink:
                        string? target = entry.EntryType == TarEntryType.SymbolicLink ? ResolveSymlink(name, entry.LinkName) : Normalize(entry.LinkName);
                        if (target is null)
                        {
                            entries.Remove(name); // a link that leaves the archive names nothing we can serve
                        }
                        else
                        {
                            entries[name] = new TarFileEntry(name, 0, 0, target);
                        }
                        break;
                    default:
                        break; // directories and anything else are not files an image is read from
                }
            }
        }
        return entries;
    }

    private static async Task<TarEntry?> NextAsync(TarReader reader, string archiveName, CancellationToken cancellationToken)
    {
        try
        {
            return await reader.GetNextEntryAsync(copyData: false, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception error) when (error is InvalidDataException or EndOfStreamException or FormatException)
        {
            throw new DecantException(DecantErrorKind.InvalidManifest, $"{archiveName} is not a valid tar archive: {error.Message}", error);
        }
    }

    private static async Task RejectCompressedAsync(FileRangeStream archive, string archiveName, CancellationToken cancellationToken)
    {
        byte[] magic = new byte[Decompression.MagicLength];
        int read = await archive.ReadAtLeastAsync(magic, magic.Length, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
        archive.Position = 0;
        if (Decompression.Detect(magic.AsSpan(0, read)) is not LayerCompression.None and var compression)
        {
            throw new DecantException(DecantErrorKind.InvalidManifest, $"{archiveName} is {Decompression.NameOf(compression)}-compressed; decompress it to a plain tar first");
        }
    }

    /// <summary>A symlink target, resolved against the link's directory; null if it leaves the archive.</summary>
    private static string? ResolveSymlink(string linkName, string target)
    {
        if (target.StartsWith('/'))
        {
            return null;
        }
        int slash = linkName.LastIndexOf('/');
        string directory = slash < 0 ? "" : linkName[..(slash + 1)];
        return Normalize(directory + target, allowParent: true);
    }

    /// <summary>
    /// Cleans an entry name: drops <c>.</c> components and empty ones. Returns null for absolute
    /// names and, unless <paramref name="allowParent"/>, for any <c>..</c>; with it, <c>..</c> may
    /// go up but never above the archive root.
    /// </summary>
    private static string? Normalize(string name, bool allowParent = false)
    {
        if (name.StartsWith('/') || (!allowParent && name.Split('/').Contains("..")) || !ArchivePath.TryClean(name, out var components))
        {
            return null;
        }
        return string.Join('/', components);
    }
}

/// <summary>One file in a <see cref="TarFileIndex"/>: where its bytes are, or which entry it links to.</summary>
internal sealed record TarFileEntry(string Name, long DataOffset, long Length, string? LinkTarget);
