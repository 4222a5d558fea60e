namespace Decant.Layers;

/// <summary>A point in time with nanosecond precision, as tar (PAX) and ext4 carry it.</summary>
public readonly record struct Timestamp(long Seconds, uint Nanoseconds)
{
    public static readonly Timestamp Epoch = new(0, 0);

    public override string ToString() => Nanoseconds == 0 ? Seconds.ToString(System.Globalization.CultureInfo.InvariantCulture) : $"{Seconds}.{Nanoseconds:D9}";
}

/// <summary>The kinds of tar entries a layer can hold, after format details are resolved.</summary>
public enum TarEntryKind
{
    RegularFile,
    Directory,
    Symlink,
    Hardlink,
    CharDevice,
    BlockDevice,
    Fifo,
}

/// <summary>
/// One tar entry's metadata, with PAX and GNU extensions already merged in (long names and link
/// names, large sizes and ids, sub-second times, <c>SCHILY.xattr.*</c>). Names are as stored in the
/// archive: cleaning and validation belong to <c>Semantics</c>.
/// </summary>
public sealed class TarHeader
{
    public required string Name { get; init; }
    public required TarEntryKind Kind { get; init; }
    public string LinkName { get; init; } = "";
    /// <summary>Permission bits plus setuid, setgid and sticky (the low 12 bits of the tar mode).</summary>
    public uint Mode { get; init; }
    public long Uid { get; init; }
    public long Gid { get; init; }
    public string? UserName { get; init; }
    public string? GroupName { get; init; }
    /// <summary>The logical size of the file's content (for sparse files, the expanded size).</summary>
    public long Size { get; init; }
    public Timestamp ModificationTime { get; init; }
    public Timestamp? AccessTime { get; init; }
    public uint DeviceMajor { get; init; }
    public uint DeviceMinor { get; init; }
    /// <summary>Extended attributes from PAX <c>SCHILY.xattr.NAME</c> records, in archive order.</summary>
    public IReadOnlyList<KeyValuePair<string, byte[]>> Xattrs { get; init; } = [];

    public override string ToString() => $"{Kind} {Name}";
}
