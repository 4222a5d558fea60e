using System.Text.Json;
using Decant.Manifests;
using Decant.Model;

namespace Decant.Sources;

/// <summary>
/// An OCI image manifest made up by a source whose images have no usable manifest blob (a
/// <c>docker save</c> archive; a containers-storage image whose stored manifest names compressed
/// layers the store does not keep), over a config it has and layers it can serve.
/// </summary>
/// <param name="Root">The manifest's descriptor: what the source resolves to.</param>
/// <param name="Documents">The manifest's and the config's bytes, by digest.</param>
internal sealed record SynthesizedManifest(Descriptor Root, Dictionary<string, byte[]> Documents)
{
    /// <summary>The manifest over <paramref name="configBytes"/> and <paramref name="layers"/> (bottom first), serialized once, so its digest is stable.</summary>
    public static SynthesizedManifest Create(byte[] configBytes, IReadOnlyList<Descriptor> layers, string configMediaType = MediaTypes.OciConfig)
    {
        var configDescriptor = new Descriptor { MediaType = configMediaType, Digest = Digest.Sha256Of(configBytes).ToString(), Size = configBytes.Length };
        var manifest = new ImageManifest { SchemaVersion = 2, MediaType = MediaTypes.OciManifest, Config = configDescriptor, Layers = layers };
        byte[] manifestBytes = JsonSerializer.SerializeToUtf8Bytes(manifest, ManifestJsonContext.Default.ImageManifest);
        var root = new Descriptor { MediaType = MediaTypes.OciManifest, Digest = Digest.Sha256Of(manifestBytes).ToString(), Size = manifestBytes.Length };
        var documents = new Dictionary<string, byte[]>(StringComparer.Ordinal)
        {
            [configDescriptor.Digest] = configBytes,
            [root.Digest] = manifestBytes,
        };
        return new SynthesizedManifest(root, documents);
    }
}
