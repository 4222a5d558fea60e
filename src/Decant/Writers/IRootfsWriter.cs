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
}

/// <summary>What a writer produced.</summary>
public sealed record WriteSummary
{
    public long Directories { get; init; }
    public long Files { get; init; }
    public long Symlinks { get; init; }
    public long Hardlinks { get; init; }
    public long Devices { get; init; }
    public long Fifos { get; init; }
    /// <summary>Device nodes that could not be created (rootless) and were left out.</summary>
    public long SkippedDevices { get; init; }
    public long ContentBytes { get; init; }
}

/// <summary>How owners are written.</summary>
public enum OwnershipMode
{
    /// <summary>Exact owners and device nodes (needs root).</summary>
    Preserve,
    /// <summary>Files belong to the caller; the image's owner is kept in the <c>user.rootlesscontainers</c> xattr; devices are skipped.</summary>
    Rootless,
}
