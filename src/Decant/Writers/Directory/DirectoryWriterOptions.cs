namespace Decant.Writers.Directory;

/// <summary>Where and how <see cref="DirectoryWriter"/> writes a root filesystem.</summary>
public sealed record DirectoryWriterOptions
{
    /// <summary>The directory to fill. Created if missing; must be empty unless <see cref="Force"/> is set.</summary>
    public required string Target { get; init; }

    /// <summary>Replace whatever the target already holds: the tree is built beside it and swapped in at commit (never following symlinks inside it).</summary>
    public bool Force { get; init; }

    /// <summary>Exact owners and device nodes (root), or rootless owners kept in an xattr.</summary>
    public OwnershipMode Ownership { get; init; } = OwnershipMode.Preserve;
}
