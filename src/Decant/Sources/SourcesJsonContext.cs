using System.Text.Json.Serialization;

namespace Decant.Sources;

/// <summary>The <c>oci-layout</c> marker file of an OCI image layout.</summary>
internal sealed record OciLayoutMarker
{
    [JsonPropertyName("imageLayoutVersion")] public string? ImageLayoutVersion { get; init; }
}

/// <summary>One image in a <c>docker save</c> archive's manifest.json.</summary>
internal sealed record DockerArchiveManifestEntry
{
    [JsonPropertyName("Config")] public string? Config { get; init; }
    [JsonPropertyName("RepoTags")] public IReadOnlyList<string>? RepoTags { get; init; }
    [JsonPropertyName("Layers")] public IReadOnlyList<string>? Layers { get; init; }
}

[JsonSourceGenerationOptions(ReadCommentHandling = System.Text.Json.JsonCommentHandling.Disallow, RespectNullableAnnotations = true)]
[JsonSerializable(typeof(OciLayoutMarker))]
[JsonSerializable(typeof(List<DockerArchiveManifestEntry>))]
internal sealed partial class SourcesJsonContext : JsonSerializerContext;
