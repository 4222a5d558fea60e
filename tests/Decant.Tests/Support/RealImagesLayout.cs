using System.Text.Json;
using Decant.Manifests;

namespace Decant.Tests.Support;

/// <summary>One layer of an image in an OCI layout: its descriptor and the blob file holding it.</summary>
public sealed record RealImageLayer(Descriptor Descriptor, string BlobPath);

/// <summary>Reads the manifest of a tagged image in an OCI layout, independently of Decant's own sources.</summary>
internal static class RealImagesLayout
{
    private const string RefNameAnnotation = "org.opencontainers.image.ref.name";

    public static async Task<ImageManifest> ReadManifestAsync(string layoutDirectory, string tag, CancellationToken cancellationToken)
    {
        var index = JsonSerializer.Deserialize(
            await File.ReadAllBytesAsync(Path.Combine(layoutDirectory, "index.json"), cancellationToken).ConfigureAwait(false),
            ManifestJsonContext.Default.ImageIndex) ?? throw new InvalidDataException($"{layoutDirectory}/index.json is null");
        var descriptor = index.Manifests.SingleOrDefault(m => m.Annotations?.GetValueOrDefault(RefNameAnnotation) == tag)
            ?? throw new InvalidDataException($"{layoutDirectory} has no manifest tagged {tag}");
        return JsonSerializer.Deserialize(
            await File.ReadAllBytesAsync(BlobPath(layoutDirectory, descriptor), cancellationToken).ConfigureAwait(false),
            ManifestJsonContext.Default.ImageManifest) ?? throw new InvalidDataException($"manifest {descriptor.Digest} is null");
    }

    /// <summary>The layers of the tagged image, bottom first.</summary>
    public static async Task<IReadOnlyList<RealImageLayer>> ReadLayersAsync(string layoutDirectory, string tag, CancellationToken cancellationToken)
    {
        var manifest = await ReadManifestAsync(layoutDirectory, tag, cancellationToken).ConfigureAwait(false);
        return [.. manifest.Layers.Select(layer => new RealImageLayer(layer, BlobPath(layoutDirectory, layer)))];
    }

    public static string BlobPath(string layoutDirectory, Descriptor descriptor)
    {
        var digest = descriptor.ParsedDigest;
        return Path.Combine(layoutDirectory, "blobs", digest.Algorithm, digest.Hex);
    }
}
