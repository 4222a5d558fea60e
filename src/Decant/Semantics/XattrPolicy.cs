namespace Decant.Semantics;

/// <summary>Which extended attributes from layers reach the output.</summary>
public sealed record XattrPolicy
{
    /// <summary>Keep <c>security.selinux</c> labels (skipped by default, as umoci and containers/storage do).</summary>
    public bool KeepSelinuxLabels { get; init; }

    /// <summary>Keep <c>trusted.*</c> attributes. A directory output can only set them as root; an ext4 image holds them without privileges, so the exporter keeps them there by default.</summary>
    public bool KeepTrusted { get; init; }

    /// <summary>The default for a directory or tar written by the current process: <c>trusted.*</c> only as root.</summary>
    public static XattrPolicy ForCurrentUser() => new() { KeepTrusted = Environment.IsPrivilegedProcess };

    /// <summary>Whether an xattr called <paramref name="name"/> reaches the output: <c>trusted.*</c> and <c>security.selinux</c> as configured; never <c>system.nfs4_acl</c> or <c>user.rootlesscontainers</c>; everything else yes.</summary>
    public bool Keeps(string name)
    {
        if (name.StartsWith("trusted.", StringComparison.Ordinal))
        {
            return KeepTrusted;
        }
        return name switch
        {
            "security.selinux" => KeepSelinuxLabels,
            // NFSv4 ACLs only mean something on the filesystem they came from.
            "system.nfs4_acl" => false,
            // Rootless bookkeeping is the writer's to produce, never the layer's to dictate.
            "user.rootlesscontainers" => false,
            _ => true,
        };
    }
}
