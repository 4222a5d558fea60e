using Decant.Model;
using Decant.Tree;

namespace Decant.Writers;

/// <summary>
/// An output format. A writer provides the content store layers are read into, then turns the
/// merged tree into its output at commit. Disposing a writer that was not committed removes
/// everything it created.
/// </summary>
public interface IRootfsWriter : IAsyncDisposable
{
    /// <summary>Where file contents go while layers are read.</summary>
    IContentStore Content { get; }

    /// <summary>Writes the finished tree. After this returns, the output is complete.</summary>
    Task<WriteSummary> CommitAsync(MergedTree tree, CancellationToken cancellationToken);

    /// <summary>
    /// Set when removing what this writer left behind failed: the partial output of a failed run
    /// (found after dispose, which does not throw), or what a replaced output left after a
    /// successful commit. The message names what was left and where. Null when nothing was left.
    /// </summary>
    DecantException? CleanupFailure => null;
}

/// <summary>What a writer produced.</summary>
public sealed record WriteSummary
{
    /// <summary>Directories written, not counting the root.</summary>
    public long Directories { get; init; }
    /// <summary>Regular files written, counted once per inode: further hardlinked paths count in <see cref="Hardlinks"/>.</summary>
    public long Files { get; init; }
    /// <summary>Symbolic links written.</summary>
    public long Symlinks { get; init; }
    /// <summary>Extra paths to an inode already written (hard links), beyond its first path.</summary>
    public long Hardlinks { get; init; }
    /// <summary>Character and block device nodes written (not those in <see cref="SkippedDevices"/>).</summary>
    public long Devices { get; init; }
    /// <summary>Named pipes written.</summary>
    public long Fifos { get; init; }
    /// <summary>Device nodes that could not be created (rootless) and were left out.</summary>
    public long SkippedDevices { get; init; }
    /// <summary>Extended attributes the output could not hold and left out (rootless refusals, names a filesystem has no namespace for).</summary>
    public long SkippedXattrs { get; init; }
    /// <summary>The total size in bytes of the regular files' contents, each inode counted once (logical sizes: holes count).</summary>
    public long ContentBytes { get; init; }
    /// <summary>The dm-verity hash tree appended to a disk image (its root hash and where it is), or null when none was asked for.</summary>
    public Verity.VerityResult? Verity { get; init; }
}

/// <summary>How owners are written.</summary>
public enum OwnershipMode
{
    /// <summary>Exact owners and device nodes (needs root).</summary>
    Preserve,
    /// <summary>Files belong to the caller; the image's owner is kept in the <c>user.rootlesscontainers</c> xattr; devices are skipped.</summary>
    Rootless,
}
