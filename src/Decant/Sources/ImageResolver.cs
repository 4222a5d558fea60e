using System.Text.Json;
using Decant.Blobs;
using Decant.Manifests;
using Decant.Model;

namespace Decant.Sources;

/// <summary>
/// Everything about one platform's image that Decant needs before touching a layer: the verified
/// manifest (and the index it was chosen from), the verified config, and the layer list.
/// </summary>
public sealed class ResolvedImage
{
    internal ResolvedImage(string name, ManifestBlob? indexBlob, ManifestBlob manifestBlob, ImageManifest manifest, byte[] configBytes, ImageConfig config, Platform platform, IReadOnlyList<Descriptor> layers, IReadOnlyList<Digest> diffIds)
    {
        Name = name;
        IndexBlob = indexBlob;
        ManifestBlob = manifestBlob;
        Manifest = manifest;
        ConfigBytes = configBytes;
        Config = config;
        Platform = platform;
        Layers = layers;
        DiffIds = diffIds;
    }

    /// <summary>The source's name, for messages.</summary>
    public string Name { get; }

    /// <summary>The digest of the manifest: the image's identity, from which deterministic outputs derive their UUIDs.</summary>
    public string ManifestDigest => ManifestBlob.Descriptor.Digest;

    /// <summary>The manifest's verified bytes.</summary>
    public byte[] ManifestBytes => ManifestBlob.Bytes;

    /// <summary>The digest of the index the manifest was picked from (the innermost one), or null when the reference named a manifest.</summary>
    public string? IndexDigest => IndexBlob?.Descriptor.Digest;

    /// <summary>The verified bytes of the index the manifest was picked from, or null.</summary>
    public byte[]? IndexBytes => IndexBlob?.Bytes;

    /// <summary>The config's verified bytes (the OCI image config JSON).</summary>
    public byte[] ConfigBytes { get; }

    /// <summary>The image's platform: from its config, else from the index entry.</summary>
    public Platform Platform { get; }

    /// <summary>The layer descriptors, bottom first; media types are known layer types.</summary>
    public IReadOnlyList<Descriptor> Layers { get; }

    /// <summary>The digests of the uncompressed layers (the config's diff_ids), one per layer.</summary>
    public IReadOnlyList<Digest> DiffIds { get; }

    internal ManifestBlob? IndexBlob { get; }
    internal ManifestBlob ManifestBlob { get; }
    internal ImageManifest Manifest { get; }
    internal ImageConfig Config { get; }
}

/// <summary>
/// Turns a source's root descriptor into a <see cref="ResolvedImage"/>: reads every manifest, index
/// and config through a <see cref="VerifyingStream"/> with a size cap, walks indexes (nested ones
/// too, up to <see cref="MaxIndexDepth"/>) to the requested platform, and checks that the manifest
/// is one Decant can unpack.
/// </summary>
internal static class ImageResolver
{
    /// <summary>The largest manifest, index or config accepted: 4 MiB.</summary>
    public const int MaxDocumentSize = SmallJson.MaxDocumentSize;

    /// <summary>How many indexes may be nested above a manifest.</summary>
    public const int MaxIndexDepth = 4;

    /// <summary>
    /// Resolves the image. <paramref name="platform"/> null means <see cref="PlatformMatcher.Host"/>;
    /// an explicit platform must also match a single-platform image's config.
    /// </summary>
    public static async Task<ResolvedImage> ResolveAsync(IImageSource source, Platform? platform, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(source);
        var requested = platform is null ? PlatformMatcher.Host : PlatformMatcher.Normalize(platform);
        var descriptor = await source.ResolveRootAsync(cancellationToken).ConfigureAwait(false);
        ManifestBlob? indexBlob = null;
        Platform? indexPlatform = null;
        for (int depth = 0; ; depth++)
        {
            var blob = await ReadManifestBlobAsync(source, descriptor, cancellationToken).ConfigureAwait(false);
            if (!MediaTypes.IsIndex(blob.MediaType))
            {
                return await CompleteAsync(source, indexBlob, blob, indexPlatform, platform is not null ? requested : null, cancellationToken).ConfigureAwait(false);
            }
            if (depth == MaxIndexDepth)
            {
                throw new DecantException(DecantErrorKind.InvalidManifest, $"{source.Name}: indexes are nested more than {MaxIndexDepth} deep (at {descriptor.Digest})");
            }
            var index = SmallJson.Deserialize(blob.Bytes, ManifestJsonContext.Default.ImageIndex, $"{source.Name}: index {descriptor.Digest}");
            if (index.Manifests.Any(m => m is null))
            {
                throw new DecantException(DecantErrorKind.InvalidManifest, $"{source.Name}: index {descriptor.Digest} has a null entry in manifests");
            }
            var child = PlatformMatcher.Select(index.Manifests, requested)
                ?? throw new DecantException(DecantErrorKind.PlatformNotFound, $"no manifest for {requested} in {source.Name}; available: {PlatformMatcher.DescribeAvailable(index.Manifests)}");
            indexBlob = blob;
            indexPlatform = child.Platform ?? PlatformMatcher.Unspecified;
            descriptor = child;
        }
    }

    private static async Task<ResolvedImage> CompleteAsync(IImageSource source, ManifestBlob? indexBlob, ManifestBlob manifestBlob, Platform? indexPlatform, Platform? explicitRequest, CancellationToken cancellationToken)
    {
        string where = $"{source.Name}: manifest {manifestBlob.Descriptor.Digest}";
        var manifest = SmallJson.Deserialize(manifestBlob.Bytes, ManifestJsonContext.Default.ImageManifest, where);
        ValidateManifest(manifest, where);

        byte[] configBytes = await ReadVerifiedAsync(source, manifest.Config, "config", cancellationToken).ConfigureAwait(false);
        var config = SmallJson.Deserialize(configBytes, ManifestJsonContext.Default.ImageConfig, $"{source.Name}: config {manifest.Config.Digest}");
        var diffIds = ParseDiffIds(config, manifest, $"{source.Name}: config {manifest.Config.Digest}");
        SmallJson.RequireNoNulls(config.Config?.Env, $"{source.Name}: config {manifest.Config.Digest}", "config.Env");
        SmallJson.RequireNoNulls(config.Config?.Entrypoint, $"{source.Name}: config {manifest.Config.Digest}", "config.Entrypoint");
        SmallJson.RequireNoNulls(config.Config?.Cmd, $"{source.Name}: config {manifest.Config.Digest}", "config.Cmd");

        var platform = PlatformOf(config) ?? indexPlatform ?? PlatformMatcher.Unspecified;
        if (indexBlob is null && explicitRequest is not null && !PlatformMatcher.Matches(explicitRequest, platform))
        {
            throw new DecantException(DecantErrorKind.PlatformNotFound, $"no manifest for {explicitRequest} in {source.Name}; available: {platform}");
        }
        return new ResolvedImage(source.Name, indexBlob, manifestBlob, manifest, configBytes, config, platform, manifest.Layers, diffIds);
    }

    private static void ValidateManifest(ImageManifest manifest, string where)
    {
        if (manifest.SchemaVersion != 2)
        {
            throw new DecantException(DecantErrorKind.InvalidManifest, $"{where}: schemaVersion {manifest.SchemaVersion} is not supported (expected 2)");
        }
        if (manifest.Config is null || manifest.Config.MediaType is not (MediaTypes.OciConfig or MediaTypes.DockerConfig))
        {
            throw new DecantException(DecantErrorKind.InvalidManifest, $"{where}: config media type \"{manifest.Config?.MediaType}\" is not an image config (is this an artifact?)");
        }
        _ = manifest.Config.ParsedDigest;
        for (int i = 0; i < manifest.Layers.Count; i++)
        {
            var layer = manifest.Layers[i] ?? throw new DecantException(DecantErrorKind.InvalidManifest, $"{where}: layer {i} is null");
            if (!MediaTypes.IsLayer(layer.MediaType))
            {
                throw new DecantException(DecantErrorKind.InvalidManifest, $"{where}: layer {i} ({layer.Digest}) has media type \"{layer.MediaType}\", which is not a known layer type");
            }
            SmallJson.RequireNoNulls(layer.Urls, where, $"layers[{i}].urls");
            if (layer.Size < 0)
            {
                throw new DecantException(DecantErrorKind.InvalidManifest, $"{where}: layer {i} ({layer.Digest}) has negative size {layer.Size}");
            }
            _ = layer.ParsedDigest;
        }
    }

    private static List<Digest> ParseDiffIds(ImageConfig config, ImageManifest manifest, string where)
    {
        var rootFs = config.RootFs ?? throw new DecantException(DecantErrorKind.InvalidManifest, $"{where}: has no rootfs");
        if (rootFs.DiffIds.Count != manifest.Layers.Count)
        {
            throw new DecantException(DecantErrorKind.InvalidManifest, $"{where}: lists {rootFs.DiffIds.Count} diff_ids for {manifest.Layers.Count} layers");
        }
        SmallJson.RequireNoNulls(rootFs.DiffIds, where, "rootfs.diff_ids");
        var diffIds = new List<Digest>(rootFs.DiffIds.Count);
        for (int i = 0; i < rootFs.DiffIds.Count; i++)
        {
            diffIds.Add(Digest.TryParse(rootFs.DiffIds[i], out var digest)
                ? digest
                : throw new DecantException(DecantErrorKind.InvalidManifest, $"{where}: field rootfs.diff_ids[{i}] is not a valid digest: \"{rootFs.DiffIds[i]}\""));
        }
        return diffIds;
    }

    private static Platform? PlatformOf(ImageConfig config) =>
        string.IsNullOrEmpty(config.Os) || string.IsNullOrEmpty(config.Architecture)
            ? null
            : new Platform { Os = config.Os, Architecture = config.Architecture, Variant = string.IsNullOrEmpty(config.Variant) ? null : config.Variant };

    /// <summary>Reads a manifest or index and works out which of the two it is.</summary>
    private static async Task<ManifestBlob> ReadManifestBlobAsync(IImageSource source, Descriptor descriptor, CancellationToken cancellationToken)
    {
        byte[] bytes = await ReadVerifiedAsync(source, descriptor, "manifest", cancellationToken).ConfigureAwait(false);
        string mediaType = DetectMediaType(bytes, descriptor, $"{source.Name}: manifest {descriptor.Digest}");
        return new ManifestBlob(bytes, mediaType, descriptor);
    }

    /// <summary>
    /// The document's own <c>mediaType</c>, or, when it has none, its structure (<c>manifests</c>
    /// means an index, <c>layers</c> or <c>config</c> a manifest). A descriptor that announced the
    /// other kind is a mismatch.
    /// </summary>
    private static string DetectMediaType(byte[] bytes, Descriptor descriptor, string where)
    {
        string mediaType;
        try
        {
            using var document = JsonDocument.Parse(bytes);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new DecantException(DecantErrorKind.InvalidManifest, $"{where} is not a JSON object");
            }
            if (root.TryGetProperty("mediaType", out var declared) && declared.ValueKind == JsonValueKind.String)
            {
                mediaType = declared.GetString()!;
            }
            else if (root.TryGetProperty("manifests", out _))
            {
                mediaType = MediaTypes.OciIndex;
            }
            else if (root.TryGetProperty("layers", out _) || root.TryGetProperty("config", out _))
            {
                mediaType = MediaTypes.OciManifest;
            }
            else
            {
                throw new DecantException(DecantErrorKind.InvalidManifest, $"{where} has no mediaType and neither manifests nor layers");
            }
        }
        catch (JsonException error)
        {
            throw new DecantException(DecantErrorKind.InvalidManifest, $"{where} is not valid JSON: {error.Message}", error);
        }

        if (!MediaTypes.IsIndex(mediaType) && !MediaTypes.IsManifest(mediaType))
        {
            throw new DecantException(DecantErrorKind.InvalidManifest, $"{where} has unsupported media type \"{mediaType}\"");
        }
        bool announcedIndex = MediaTypes.IsIndex(descriptor.MediaType);
        bool announcedManifest = MediaTypes.IsManifest(descriptor.MediaType);
        if ((announcedIndex && !MediaTypes.IsIndex(mediaType)) || (announcedManifest && !MediaTypes.IsManifest(mediaType)))
        {
            throw new DecantException(DecantErrorKind.InvalidManifest, $"{where}: its descriptor says \"{descriptor.MediaType}\" but the document is \"{mediaType}\"");
        }
        return mediaType;
    }

    /// <summary>Reads a small blob whole, refusing it before reading when it is declared too large.</summary>
    private static async Task<byte[]> ReadVerifiedAsync(IImageSource source, Descriptor descriptor, string what, CancellationToken cancellationToken)
    {
        if (descriptor.Size < 0)
        {
            throw new DecantException(DecantErrorKind.InvalidManifest, $"{source.Name}: {what} {descriptor.Digest} has negative size {descriptor.Size}");
        }
        if (descriptor.Size > MaxDocumentSize)
        {
            throw SmallJson.TooLarge($"{source.Name}: {what} {descriptor.Digest} ({descriptor.Size} bytes)", MaxDocumentSize);
        }
        var digest = descriptor.ParsedDigest;
        var blob = await source.OpenBlobAsync(descriptor, cancellationToken).ConfigureAwait(false);
        var verifying = new VerifyingStream(blob, digest, descriptor.Size);
        await using (verifying.ConfigureAwait(false))
        {
            try
            {
                return await SmallJson.ReadCappedAsync(verifying, MaxDocumentSize, $"{source.Name}: {what} {descriptor.Digest}", cancellationToken).ConfigureAwait(false);
            }
            catch (DecantException error) when (error.Kind == DecantErrorKind.DigestMismatch)
            {
                throw new DecantException(error.Kind, $"{source.Name}: {what}: {error.Message}", error);
            }
        }
    }
}
