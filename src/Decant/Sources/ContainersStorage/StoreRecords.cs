using System.Text.Json.Serialization;

namespace Decant.Sources.ContainersStorage;

/// <summary>One image in a store's <c>DRIVER-images/images.json</c> (the fields Decant reads).</summary>
internal sealed record StoredImage
{
    /// <summary>The image ID: the hex of its config's sha256 digest, as podman shows it.</summary>
    [JsonPropertyName("id")] public string Id { get; init; } = "";
    /// <summary>The digest of the image's default manifest, or null.</summary>
    [JsonPropertyName("digest")] public string? Digest { get; init; }
    /// <summary>The digests of every manifest the image was stored with, or null.</summary>
    [JsonPropertyName("digests")] public IReadOnlyList<string>? Digests { get; init; }
    /// <summary>The image's names (<c>localhost/app:1</c>, <c>docker.io/library/debian:12</c>), or null.</summary>
    [JsonPropertyName("names")] public IReadOnlyList<string>? Names { get; init; }
    /// <summary>The ID of the image's top layer, or null for an image without layers.</summary>
    [JsonPropertyName("layer")] public string? TopLayer { get; init; }
    /// <summary>The keys of the image's big data (the manifests, the config, signatures).</summary>
    [JsonPropertyName("big-data-names")] public IReadOnlyList<string>? BigDataNames { get; init; }
    /// <summary>The size of each big data item, by key.</summary>
    [JsonPropertyName("big-data-sizes")] public IReadOnlyDictionary<string, long>? BigDataSizes { get; init; }
    /// <summary>The digest of each big data item, by key.</summary>
    [JsonPropertyName("big-data-digests")] public IReadOnlyDictionary<string, string>? BigDataDigests { get; init; }
}

/// <summary>One layer in a store's <c>DRIVER-layers/layers.json</c> (the fields Decant reads).</summary>
internal sealed record StoredLayer
{
    /// <summary>The layer ID, also its directory's name under the driver's directory.</summary>
    [JsonPropertyName("id")] public string Id { get; init; } = "";
    /// <summary>The ID of the layer below it, or null for a base layer.</summary>
    [JsonPropertyName("parent")] public string? Parent { get; init; }
    /// <summary>The digest of the layer's uncompressed tar (its diff_id), or null when the store never computed it.</summary>
    [JsonPropertyName("diff-digest")] public string? DiffDigest { get; init; }
    /// <summary>The size of the layer's uncompressed tar, or null.</summary>
    [JsonPropertyName("diff-size")] public long? DiffSize { get; init; }
    /// <summary>The layer's flags; <c>incomplete</c> marks a layer still being written (or left by a crash).</summary>
    [JsonPropertyName("flags")] public IReadOnlyDictionary<string, System.Text.Json.JsonElement>? Flags { get; init; }
}

[JsonSourceGenerationOptions(ReadCommentHandling = System.Text.Json.JsonCommentHandling.Disallow)]
[JsonSerializable(typeof(List<StoredImage>))]
[JsonSerializable(typeof(List<StoredLayer>))]
internal sealed partial class StoreJsonContext : JsonSerializerContext;
