using Decant.Model;
using Decant.References;

namespace Decant.Sources.DockerArchive;

/// <summary>Picks one image of a docker-archive's manifest.json: by RepoTags, by index, or the only one.</summary>
internal static class DockerArchiveImageSelector
{
    public static DockerArchiveManifestEntry Select(string name, IReadOnlyList<DockerArchiveManifestEntry> images, DockerArchiveReference reference)
    {
        if (reference.SourceIndex is int index)
        {
            return index < images.Count
                ? images[index]
                : throw new DecantException(DecantErrorKind.NotFound, $"{name}: manifest.json has {images.Count} images, so @{index} is out of range (count from 0)");
        }
        if (reference.Image is { } wanted)
        {
            var normalized = wanted.WithDefaultTag();
            var matches = images.Where(image => (image.RepoTags ?? []).Any(tag => Normalize(tag) == normalized)).ToList();
            return matches.Count switch
            {
                1 => matches[0],
                0 => throw new DecantException(DecantErrorKind.NotFound, $"{name}: no image tagged {wanted}; available: {DescribeTags(images)}"),
                _ => throw new DecantException(DecantErrorKind.InvalidManifest, $"{name}: manifest.json has {matches.Count} images tagged {wanted}"),
            };
        }
        return images.Count == 1
            ? images[0]
            : throw new DecantException(DecantErrorKind.Usage, $"{name} holds {images.Count} images; name one as {name}:NAME:TAG or {name}:@N; available: {DescribeTags(images)}");
    }

    /// <summary>A RepoTags entry in normalized form, or null if it is not a valid name (then it never matches).</summary>
    private static DockerImageName? Normalize(string repoTag)
    {
        try
        {
            return DockerImageName.Parse(repoTag).WithDefaultTag();
        }
        catch (DecantException)
        {
            return null;
        }
    }

    private static string DescribeTags(IReadOnlyList<DockerArchiveManifestEntry> images)
    {
        var described = images.Select((image, i) => image.RepoTags is { Count: > 0 } tags ? $"@{i} ({string.Join(", ", tags)})" : $"@{i} (untagged)");
        return string.Join("; ", described);
    }
}
