using Decant.Model;

namespace Decant.References;

/// <summary>
/// A reference into an OCI image layout, however it is stored: <c>TRANSPORT:PATH[:TAG]</c> or
/// <c>TRANSPORT:PATH@sha256:…</c>, with the syntax of <see cref="LayoutReferenceSyntax"/>.
/// </summary>
/// <param name="Path">The layout directory or archive file.</param>
/// <param name="Tag">The <c>org.opencontainers.image.ref.name</c> annotation to select, if any.</param>
/// <param name="Digest">The manifest or index digest to select, if any.</param>
internal abstract record LayoutImageReference(string Path, string? Tag, Digest? Digest) : ImageReference
{
    /// <summary><c>TRANSPORT:PATH</c>, then <c>@DIGEST</c> when there is a digest (the tag is then left out), else <c>:TAG</c> when there is a tag.</summary>
    public sealed override string ToString() => Transport + ":" + LayoutReferenceSyntax.Format(Path, Tag, Digest);
}

/// <summary>An image in an OCI image layout directory: <c>oci:DIR[:TAG]</c> or <c>oci:DIR@sha256:…</c>.</summary>
internal sealed record OciLayoutReference(string Path, string? Tag = null, Digest? Digest = null) : LayoutImageReference(Path, Tag, Digest)
{
    /// <summary>The transport prefix, <c>oci</c>.</summary>
    public const string TransportName = "oci";

    /// <summary>Always <see cref="TransportName"/>.</summary>
    public override string Transport => TransportName;

    internal static OciLayoutReference ParseDetails(string details)
    {
        var (path, tag, digest) = LayoutReferenceSyntax.Split(TransportName, details);
        return new OciLayoutReference(path, tag, digest);
    }
}

/// <summary>An image in a tar of an OCI image layout: <c>oci-archive:FILE[:TAG]</c> or <c>oci-archive:FILE@sha256:…</c>.</summary>
internal sealed record OciArchiveReference(string Path, string? Tag = null, Digest? Digest = null) : LayoutImageReference(Path, Tag, Digest)
{
    /// <summary>The transport prefix, <c>oci-archive</c>.</summary>
    public const string TransportName = "oci-archive";

    /// <summary>Always <see cref="TransportName"/>.</summary>
    public override string Transport => TransportName;

    internal static OciArchiveReference ParseDetails(string details)
    {
        var (path, tag, digest) = LayoutReferenceSyntax.Split(TransportName, details);
        return new OciArchiveReference(path, tag, digest);
    }
}

/// <summary>
/// The <c>PATH[:TAG]</c> / <c>PATH@DIGEST</c> syntax shared by the OCI layout transports.
/// A path may itself contain ':'; the text after the LAST ':' is taken as a tag only when it is a
/// valid tag (no '/'), so <c>oci:/a:b/c</c> is the directory <c>/a:b/c</c> while <c>oci:/a/b:v1</c>
/// is tag <c>v1</c> of <c>/a/b</c>. A directory whose own name ends in <c>:TAG</c> cannot be named.
/// </summary>
internal static class LayoutReferenceSyntax
{
    public static (string Path, string? Tag, Digest? Digest) Split(string transport, string details)
    {
        string path = details;
        string? tag = null;
        Digest? digest = null;
        int at = details.LastIndexOf('@');
        if (at >= 0 && Model.Digest.TryParse(details[(at + 1)..], out var parsed))
        {
            path = details[..at];
            digest = parsed;
        }
        else
        {
            int colon = details.LastIndexOf(':');
            if (colon >= 0 && DockerImageName.IsValidTag(details[(colon + 1)..]))
            {
                path = details[..colon];
                tag = details[(colon + 1)..];
            }
        }
        if (path.Length == 0)
        {
            throw new DecantException(DecantErrorKind.Usage, $"\"{transport}:{details}\" names no path; write {transport}:PATH[:TAG]");
        }
        return (path, tag, digest);
    }

    public static string Format(string path, string? tag, Digest? digest) =>
        digest is { } d ? path + "@" + d : tag is null ? path : path + ":" + tag;
}
