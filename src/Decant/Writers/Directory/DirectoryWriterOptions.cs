namespace Decant.Writers.Directory;

/// <summary>
/// How <see cref="DirectoryWriter"/> writes a root filesystem. <see cref="WriterOptions.Output"/> is
/// the directory to fill: created if missing, and it must be empty unless
/// <see cref="WriterOptions.Force"/> is set, which replaces whatever it holds (the tree is built
/// beside it and swapped in at commit, never following symlinks inside it).
/// </summary>
public sealed record DirectoryWriterOptions : WriterOptions
{
    /// <summary>Exact owners and device nodes (root), or rootless owners kept in an xattr.</summary>
    public OwnershipMode Ownership { get; init; } = OwnershipMode.Preserve;
}
