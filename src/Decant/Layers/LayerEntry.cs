using Decant.Model;
namespace Decant.Layers;

/// <summary>The kinds of tar entries a layer can hold, after format details are resolved.</summary>
internal enum TarEntryKind
{
    /// <summary>A regular file: types '0', '7' (contiguous), GNU 'S' (sparse), and an old-style NUL type whose name does not end in '/'.</summary>
    RegularFile,
    /// <summary>A directory: type '5', or an old-style NUL type whose name ends in '/'.</summary>
    Directory,
    /// <summary>A symbolic link (type '2'); <see cref="TarHeader.LinkName"/> is its target.</summary>
    Symlink,
    /// <summary>A hard link (type '1') to an earlier entry, named by <see cref="TarHeader.LinkName"/>.</summary>
    Hardlink,
    /// <summary>A character device (type '3'), with <see cref="TarHeader.DeviceMajor"/> and <see cref="TarHeader.DeviceMinor"/>.</summary>
    CharDevice,
    /// <summary>A block device (type '4'), with <see cref="TarHeader.DeviceMajor"/> and <see cref="TarHeader.DeviceMinor"/>.</summary>
    BlockDevice,
    /// <summary>A named pipe (type '6').</summary>
    Fifo,
}

/// <summary>
/// One tar entry's metadata, with PAX and GNU extensions already merged in (long names and link
/// names, large sizes and ids, sub-second times, <c>SCHILY.xattr.*</c>). Names are as stored in the
/// archive: cleaning and validation belong to <c>Semantics</c>.
/// </summary>
internal sealed class TarHeader
{
    /// <summary>The entry's path as the archive stores it (PAX <c>path</c>, GNU long name, or ustar prefix + name), decoded losslessly by <see cref="Model.NameBytes"/>; not cleaned.</summary>
    public required string Name { get; init; }
    /// <summary>What the entry is, resolved from the type flag.</summary>
    public required TarEntryKind Kind { get; init; }
    /// <summary>For a symlink, its target; for a hardlink, the archive path of the entry it links to; empty otherwise (PAX <c>linkpath</c> and GNU long link names applied).</summary>
    public string LinkName { get; init; } = "";
    /// <summary>Permission bits plus setuid, setgid and sticky (the low 12 bits of the tar mode).</summary>
    public uint Mode { get; init; }
    /// <summary>The numeric owner (header field or PAX <c>uid</c>); this, not <see cref="UserName"/>, is what ownership uses.</summary>
    public long Uid { get; init; }
    /// <summary>The numeric group (header field or PAX <c>gid</c>); this, not <see cref="GroupName"/>, is what ownership uses.</summary>
    public long Gid { get; init; }
    /// <summary>The <c>uname</c> field or PAX record, for information only; null in a V7 header without a PAX <c>uname</c>.</summary>
    public string? UserName { get; init; }
    /// <summary>The <c>gname</c> field or PAX record, for information only; null in a V7 header without a PAX <c>gname</c>.</summary>
    public string? GroupName { get; init; }
    /// <summary>The logical size of the file's content (for sparse files, the expanded size).</summary>
    public long Size { get; init; }
    /// <summary>The modification time: the header's whole seconds, or the PAX <c>mtime</c> with its fraction.</summary>
    public Timestamp ModificationTime { get; init; }
    /// <summary>The access time from PAX <c>atime</c> or the GNU atime field; null when the archive has none (the merged tree then uses <see cref="ModificationTime"/>).</summary>
    public Timestamp? AccessTime { get; init; }
    /// <summary>The device's major number; 0 unless <see cref="Kind"/> is a character or block device.</summary>
    public uint DeviceMajor { get; init; }
    /// <summary>The device's minor number; 0 unless <see cref="Kind"/> is a character or block device.</summary>
    public uint DeviceMinor { get; init; }
    /// <summary>Extended attributes from PAX <c>SCHILY.xattr.NAME</c> records, in archive order.</summary>
    public IReadOnlyList<KeyValuePair<string, byte[]>> Xattrs { get; init; } = [];

    /// <summary>The kind and the archive name, for messages and debugging.</summary>
    public override string ToString() => $"{Kind} {Name}";
}
