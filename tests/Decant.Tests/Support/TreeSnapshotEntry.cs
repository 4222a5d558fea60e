using Decant.Layers;
using Decant.Model;

namespace Decant.Tests.Support;

/// <summary>The file types a snapshot distinguishes (from the <c>S_IFMT</c> bits).</summary>
public enum SnapshotEntryType
{
    RegularFile,
    Directory,
    Symlink,
    CharDevice,
    BlockDevice,
    Fifo,
    Socket,
}

/// <summary>
/// Everything a tree snapshot records about one path. Directory sizes are recorded as 0 because
/// they depend on the filesystem, not on the image.
/// </summary>
public sealed record TreeSnapshotEntry
{
    /// <summary>The path inside the tree, <c>/</c> for its root (see <see cref="SnapshotPath"/> for escaping).</summary>
    public required string Path { get; init; }
    public required SnapshotEntryType Type { get; init; }
    /// <summary>Permission bits plus setuid, setgid and sticky (12 bits).</summary>
    public required uint Mode { get; init; }
    public required long Uid { get; init; }
    public required long Gid { get; init; }
    public required long Size { get; init; }
    /// <summary>Lower-case hex sha256 of a regular file's content; null for other types or when hashing was off.</summary>
    public string? ContentSha256 { get; init; }
    /// <summary>A symlink's target, escaped like paths; null for other types.</summary>
    public string? SymlinkTarget { get; init; }
    public uint DeviceMajor { get; init; }
    public uint DeviceMinor { get; init; }
    /// <summary>Extended attribute names mapped to the lower-case hex of their values, sorted by name.</summary>
    public required IReadOnlyDictionary<string, string> Xattrs { get; init; }
    public required Timestamp ModificationTime { get; init; }
    /// <summary>All paths in the tree that share this entry's inode, sorted, itself included; empty when it has no other name.</summary>
    public IReadOnlyList<string> HardlinkGroup { get; init; } = [];

    /// <summary>The mode as four octal digits, e.g. <c>4755</c>.</summary>
    public string OctalMode => Convert.ToString(Mode, 8).PadLeft(4, '0');
}
