using System.Text.Json.Serialization;
using Decant.Model;

namespace Decant.Manifests;

/// <summary>An OCI content descriptor: what a blob is, its digest and size.</summary>
public sealed record Descriptor
{
    /// <summary>The blob's <c>mediaType</c>, such as one of the <see cref="MediaTypes"/>; empty when the JSON leaves it out.</summary>
    [JsonPropertyName("mediaType")] public string MediaType { get; init; } = "";
    /// <summary>The blob's digest as written (<c>algorithm:hex</c>), not yet validated; <see cref="ParsedDigest"/> checks it.</summary>
    [JsonPropertyName("digest")] public string Digest { get; init; } = "";
    /// <summary>The blob's exact size in bytes; reads are verified against it.</summary>
    [JsonPropertyName("size")] public long Size { get; init; }
    /// <summary>Other places the blob can be fetched from (foreign and non-distributable layers), tried in order when the registry does not have it; null when absent.</summary>
    [JsonPropertyName("urls")] public IReadOnlyList<string>? Urls { get; init; }
    /// <summary>In an index entry, the platform the manifest is for; null when the entry does not say, which matches as linux/amd64.</summary>
    [JsonPropertyName("platform")] public Platform? Platform { get; init; }
    /// <summary>The descriptor's annotations, or null; in an OCI layout's index.json, <c>org.opencontainers.image.ref.name</c> holds the tag.</summary>
    [JsonPropertyName("annotations")] public IReadOnlyDictionary<string, string>? Annotations { get; init; }

    /// <summary>The parsed digest; throws a clear error when it is malformed.</summary>
    [JsonIgnore] public Digest ParsedDigest => Model.Digest.Parse(Digest);
}

/// <summary>An OS and CPU architecture an image is built for.</summary>
public sealed record Platform
{
    /// <summary>Parses <c>os/arch[/variant]</c> (e.g. <c>linux/arm64/v8</c>) as <c>--platform</c> spells it; throws a usage error naming what was wrong.</summary>
    public static Platform Parse(string value) => PlatformMatcher.Parse(value);

    /// <summary>The operating system (<c>os</c>), as GOOS spells it: linux, windows, …</summary>
    [JsonPropertyName("os")] public string Os { get; init; } = "";
    /// <summary>The CPU architecture (<c>architecture</c>), as GOARCH spells it: amd64, arm64, arm, …</summary>
    [JsonPropertyName("architecture")] public string Architecture { get; init; } = "";
    /// <summary>The CPU variant (<c>variant</c>, such as v7 or v8), or null; matching treats a missing arm64 variant as v8 and arm as v7.</summary>
    [JsonPropertyName("variant")] public string? Variant { get; init; }
    /// <summary>The <c>os.version</c> field (Windows images), or null; not used in matching.</summary>
    [JsonPropertyName("os.version")] public string? OsVersion { get; init; }
    /// <summary>The <c>os.features</c> field (Windows images), or null; not used in matching.</summary>
    [JsonPropertyName("os.features")] public IReadOnlyList<string>? OsFeatures { get; init; }

    /// <summary>The platform as <c>os/architecture[/variant]</c>, the form <c>--platform</c> takes.</summary>
    public override string ToString() => Variant is null ? $"{Os}/{Architecture}" : $"{Os}/{Architecture}/{Variant}";
}

/// <summary>An OCI image index or Docker manifest list.</summary>
internal sealed record ImageIndex
{
    /// <summary>The <c>schemaVersion</c>; 2 in every current index (an OCI layout's index.json must say 2).</summary>
    [JsonPropertyName("schemaVersion")] public int SchemaVersion { get; init; }
    /// <summary>The index's own <c>mediaType</c> (<see cref="MediaTypes.OciIndex"/> or <see cref="MediaTypes.DockerManifestList"/>); optional in OCI, so null when absent.</summary>
    [JsonPropertyName("mediaType")] public string? MediaType { get; init; }
    /// <summary>One descriptor per platform manifest or nested index; empty when the JSON has none.</summary>
    [JsonPropertyName("manifests")] public IReadOnlyList<Descriptor> Manifests { get; init; } = [];
    /// <summary>The index's annotations, or null.</summary>
    [JsonPropertyName("annotations")] public IReadOnlyDictionary<string, string>? Annotations { get; init; }
}

/// <summary>An OCI image manifest or Docker schema2 manifest.</summary>
internal sealed record ImageManifest
{
    /// <summary>The <c>schemaVersion</c>; only 2 is accepted.</summary>
    [JsonPropertyName("schemaVersion")] public int SchemaVersion { get; init; }
    /// <summary>The manifest's own <c>mediaType</c>; optional in OCI manifests, so null when absent.</summary>
    [JsonPropertyName("mediaType")] public string? MediaType { get; init; }
    /// <summary>The descriptor of the image config blob; its media type must be <see cref="MediaTypes.OciConfig"/> or <see cref="MediaTypes.DockerConfig"/>.</summary>
    [JsonPropertyName("config")] public Descriptor Config { get; init; } = new();
    /// <summary>The layer descriptors in the order they are applied, base layer first.</summary>
    [JsonPropertyName("layers")] public IReadOnlyList<Descriptor> Layers { get; init; } = [];
    /// <summary>The manifest's annotations, or null.</summary>
    [JsonPropertyName("annotations")] public IReadOnlyDictionary<string, string>? Annotations { get; init; }
}

/// <summary>The image configuration (the parts Decant uses).</summary>
internal sealed record ImageConfig
{
    /// <summary>When the image was created, the RFC 3339 string as the config holds it (not parsed), or null; a bundle records it as <c>org.opencontainers.image.created</c>.</summary>
    [JsonPropertyName("created")] public string? Created { get; init; }
    /// <summary>The image's architecture as the config's <c>architecture</c> field gives it (GOARCH values such as amd64, arm64), or null.</summary>
    [JsonPropertyName("architecture")] public string? Architecture { get; init; }
    /// <summary>The config's CPU <c>variant</c> (such as v7 or v8), or null or empty when not given.</summary>
    [JsonPropertyName("variant")] public string? Variant { get; init; }
    /// <summary>The image's operating system as the config's <c>os</c> field gives it (GOOS values such as linux), or null.</summary>
    [JsonPropertyName("os")] public string? Os { get; init; }
    /// <summary>The execution defaults (the config's <c>config</c> object), or null when the image has none.</summary>
    [JsonPropertyName("config")] public ContainerConfig? Config { get; init; }
    /// <summary>The <c>rootfs</c> object with the layers' diff_ids; an image without one is rejected.</summary>
    [JsonPropertyName("rootfs")] public RootFs? RootFs { get; init; }
}

/// <summary>The runtime defaults an image carries (entrypoint, env, user…).</summary>
internal sealed record ContainerConfig
{
    /// <summary>The user to run as: a name or number, optionally <c>:group</c>; null or empty means root. A bundle looks names up in the rootfs' /etc/passwd and /etc/group.</summary>
    [JsonPropertyName("User")] public string? User { get; init; }
    /// <summary>The environment as <c>NAME=value</c> strings, or null; a bundle falls back to a standard PATH when there are none.</summary>
    [JsonPropertyName("Env")] public IReadOnlyList<string>? Env { get; init; }
    /// <summary>The leading arguments of the command, or null; the process runs <see cref="Entrypoint"/> followed by <see cref="Cmd"/>.</summary>
    [JsonPropertyName("Entrypoint")] public IReadOnlyList<string>? Entrypoint { get; init; }
    /// <summary>The default arguments after <see cref="Entrypoint"/> (the whole command when there is none), or null.</summary>
    [JsonPropertyName("Cmd")] public IReadOnlyList<string>? Cmd { get; init; }
    /// <summary>The working directory, or null; null or empty means /.</summary>
    [JsonPropertyName("WorkingDir")] public string? WorkingDir { get; init; }
    /// <summary>The image's labels, or null; a bundle writes them as annotations.</summary>
    [JsonPropertyName("Labels")] public IReadOnlyDictionary<string, string>? Labels { get; init; }
    /// <summary>The signal meant to stop the container (a name such as SIGTERM, or a number), or null; Decant does not use it.</summary>
    [JsonPropertyName("StopSignal")] public string? StopSignal { get; init; }
}

/// <summary>The config's list of uncompressed layer digests.</summary>
internal sealed record RootFs
{
    /// <summary>The rootfs type; <c>layers</c> is the only value the spec defines (Decant does not check it).</summary>
    [JsonPropertyName("type")] public string? Type { get; init; }
    /// <summary>The digests of the layers' uncompressed tars (<c>diff_ids</c>), base first, one per manifest layer; each is checked as its layer is read.</summary>
    [JsonPropertyName("diff_ids")] public IReadOnlyList<string> DiffIds { get; init; } = [];
}

/// <summary>A manifest or index as it was read: its raw bytes, which the digest covers, and its media type.</summary>
internal sealed record ManifestBlob(byte[] Bytes, string MediaType, Descriptor Descriptor);

// RespectNullableAnnotations: a JSON null where the model has no "?" is refused, not stored as null.
[JsonSourceGenerationOptions(WriteIndented = true, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull, ReadCommentHandling = System.Text.Json.JsonCommentHandling.Disallow, RespectNullableAnnotations = true)]
[JsonSerializable(typeof(Descriptor))]
[JsonSerializable(typeof(ImageIndex))]
[JsonSerializable(typeof(ImageManifest))]
[JsonSerializable(typeof(ImageConfig))]
internal sealed partial class ManifestJsonContext : JsonSerializerContext;
