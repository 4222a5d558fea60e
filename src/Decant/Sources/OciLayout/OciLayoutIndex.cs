using Decant.Manifests;
using Decant.Model;

namespace Decant.Sources.OciLayout;

/// <summary>
/// A layout's index.json after the <c>oci-layout</c> marker was checked: the list of images the
/// layout holds, and the rules for picking one by tag or digest.
/// </summary>
internal sealed class OciLayoutIndex
{
    /// <summary>The annotation that carries a tag in an OCI layout.</summary>
    public const string RefNameAnnotation = "org.opencontainers.image.ref.name";

    private const string SupportedLayoutVersion = "1.0.0";
    private const int MaxMarkerSize = 4096;

    private OciLayoutIndex(string name, IReadOnlyList<Descriptor> manifests)
    {
        Name = name;
        Manifests = manifests;
    }

    /// <summary>The layout's reference, for messages.</summary>
    public string Name { get; }

    public IReadOnlyList<Descriptor> Manifests { get; }

    /// <summary>Checks oci-layout and reads index.json (capped at <see cref="SmallJson.MaxDocumentSize"/>).</summary>
    public static async Task<OciLayoutIndex> ReadAsync(string name, ILayoutStorage storage, CancellationToken cancellationToken)
    {
        byte[] markerBytes = await ReadFileAsync(name, storage, "oci-layout", MaxMarkerSize, cancellationToken).ConfigureAwait(false);
        var marker = SmallJson.Deserialize(markerBytes, SourcesJsonContext.Default.OciLayoutMarker, $"{name}: oci-layout");
        if (marker.ImageLayoutVersion != SupportedLayoutVersion)
        {
            throw new DecantException(DecantErrorKind.InvalidManifest, $"{name}: oci-layout has imageLayoutVersion \"{marker.ImageLayoutVersion}\"; only {SupportedLayoutVersion} is supported");
        }

        byte[] indexBytes = await ReadFileAsync(name, storage, "index.json", SmallJson.MaxDocumentSize, cancellationToken).ConfigureAwait(false);
        var index = SmallJson.Deserialize(indexBytes, ManifestJsonContext.Default.ImageIndex, $"{name}: index.json");
        if (index.SchemaVersion != 2)
        {
            throw new DecantException(DecantErrorKind.InvalidManifest, $"{name}: index.json has schemaVersion {index.SchemaVersion}, expected 2");
        }
        for (int i = 0; i < index.Manifests.Count; i++)
        {
            if (index.Manifests[i] is null || !Digest.TryParse(index.Manifests[i].Digest, out _))
            {
                throw new DecantException(DecantErrorKind.InvalidManifest, $"{name}: index.json manifests[{i}] has no valid digest");
            }
        }
        return new OciLayoutIndex(name, index.Manifests);
    }

    /// <summary>The descriptor tagged <paramref name="tag"/>, or with no tag the only descriptor there is.</summary>
    public Descriptor SelectByTag(string? tag)
    {
        if (tag is null)
        {
            return Manifests.Count switch
            {
                1 => Manifests[0],
                0 => throw new DecantException(DecantErrorKind.NotFound, $"{Name}: index.json lists no images"),
                _ => throw new DecantException(DecantErrorKind.Usage, $"{Name} holds {Manifests.Count} images; name one as {Name}:TAG; available tags: {DescribeTags()}"),
            };
        }
        var matches = Manifests.Where(d => TagOf(d) == tag).ToList();
        return matches.Count switch
        {
            1 => matches[0],
            0 => throw new DecantException(DecantErrorKind.NotFound, $"{Name}: no image tagged \"{tag}\"; available tags: {DescribeTags()}"),
            _ => throw new DecantException(DecantErrorKind.InvalidManifest, $"{Name}: index.json lists tag \"{tag}\" {matches.Count} times"),
        };
    }

    /// <summary>The index.json entry with this digest, if any.</summary>
    public Descriptor? FindByDigest(Digest digest) =>
        Manifests.FirstOrDefault(d => d.Digest == digest.ToString());

    private string DescribeTags()
    {
        var tags = Manifests.Select(TagOf).OfType<string>().Distinct(StringComparer.Ordinal).ToList();
        return tags.Count == 0 ? "(none)" : string.Join(", ", tags);
    }

    private static string? TagOf(Descriptor descriptor) =>
        descriptor.Annotations is { } annotations && annotations.TryGetValue(RefNameAnnotation, out var tag) ? tag : null;

    private static async Task<byte[]> ReadFileAsync(string name, ILayoutStorage storage, string path, int cap, CancellationToken cancellationToken)
    {
        var stream = await storage.TryOpenAsync(path, cancellationToken).ConfigureAwait(false)
            ?? throw new DecantException(DecantErrorKind.NotFound, $"{name} is not an OCI image layout: it has no {path}");
        await using (stream.ConfigureAwait(false))
        {
            return await SmallJson.ReadCappedAsync(stream, cap, $"{name}: {path}", cancellationToken).ConfigureAwait(false);
        }
    }
}
