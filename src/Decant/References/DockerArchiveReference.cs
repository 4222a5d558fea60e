using System.Globalization;
using Decant.Model;

namespace Decant.References;

/// <summary>
/// An image in a <c>docker save</c> archive: <c>docker-archive:FILE</c> (the only image),
/// <c>docker-archive:FILE:NAME:TAG</c> (by RepoTags) or <c>docker-archive:FILE:@N</c> (the N-th entry of
/// manifest.json, from 0). As in skopeo, FILE ends at the first ':', so it cannot contain one.
/// </summary>
/// <param name="Path">The archive file.</param>
/// <param name="Image">The name:tag to find in RepoTags, if given.</param>
/// <param name="SourceIndex">The index into manifest.json, if given.</param>
internal sealed record DockerArchiveReference(string Path, DockerImageName? Image = null, int? SourceIndex = null) : ImageReference
{
    /// <summary>The transport prefix, <c>docker-archive</c>.</summary>
    public const string TransportName = "docker-archive";

    /// <summary>Always <see cref="TransportName"/>.</summary>
    public override string Transport => TransportName;

    /// <summary><c>docker-archive:FILE</c>, <c>docker-archive:FILE:NAME:TAG</c> (the name in full, normalized form) or <c>docker-archive:FILE:@N</c>; parsing it gives back an equal reference.</summary>
    public override string ToString() => (Image, SourceIndex) switch
    {
        (not null, _) => $"{TransportName}:{Path}:{Image}",
        (null, int index) => $"{TransportName}:{Path}:@{index.ToString(CultureInfo.InvariantCulture)}",
        _ => $"{TransportName}:{Path}",
    };

    internal static DockerArchiveReference ParseDetails(string details)
    {
        int colon = details.IndexOf(':', StringComparison.Ordinal);
        string path = colon < 0 ? details : details[..colon];
        string? selector = colon < 0 ? null : details[(colon + 1)..];
        if (path.Length == 0)
        {
            throw new DecantException(DecantErrorKind.Usage, $"\"{TransportName}:{details}\" names no file; write {TransportName}:FILE[:NAME:TAG]");
        }
        if (string.IsNullOrEmpty(selector))
        {
            return new DockerArchiveReference(path);
        }
        if (selector[0] == '@')
        {
            if (!int.TryParse(selector.AsSpan(1), NumberStyles.None, CultureInfo.InvariantCulture, out int index))
            {
                throw new DecantException(DecantErrorKind.Usage, $"invalid image index \"{selector}\" in \"{TransportName}:{details}\"; write @N with N counting from 0");
            }
            return new DockerArchiveReference(path, SourceIndex: index);
        }
        var image = DockerImageName.Parse(selector);
        if (image.Digest is not null)
        {
            throw new DecantException(DecantErrorKind.Usage, $"{TransportName} selects images by NAME:TAG, not by digest: \"{selector}\"");
        }
        return new DockerArchiveReference(path, image);
    }
}
