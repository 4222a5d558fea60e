using System.Text.Json;
using Decant.Blobs;
using Decant.Manifests;
using Decant.Model;
using Decant.References;
using Decant.Sources.Archive;

namespace Decant.Sources.DockerArchive;

/// <summary>
/// An image in a <c>docker save</c> archive (manifest.json listing Config, RepoTags and Layers),
/// read in place like <see cref="OciArchive.OciArchiveSource"/>. The archive has no manifest
/// blob, so one is synthesized at open: an OCI image manifest (OCI rather than Docker schema2
/// because schema2 has no media type for the uncompressed layers such archives hold) whose bytes
/// this source serves under their own digest, like the config and layers.
/// </summary>
/// <remarks>
/// Layer digests are found without hashing whole layers when possible:
/// a layer stored as <c>blobs/ALG/HEX</c> (Docker 25+) is named by its digest;
/// an uncompressed legacy <c>ID/layer.tar</c> has digest = its diff_id from the config (the sha256 of
/// the uncompressed tar); only a compressed legacy layer is hashed once at open. Every one of
/// these is still verified when read, through the resolver's and the layer reader's
/// <see cref="Blobs.VerifyingStream"/>, so a wrong guess fails as a digest mismatch, never silently.
/// Layer media types follow the bytes: the first few of each layer are sniffed for gzip or zstd.
/// </remarks>
internal sealed class DockerArchiveSource : IImageSource
{
    private readonly TarFileIndex _archive;
    private readonly Descriptor _root;
    private readonly Dictionary<string, byte[]> _documents;
    private readonly Dictionary<string, TarFileEntry> _layers;

    private DockerArchiveSource(string name, TarFileIndex archive, Descriptor root, Dictionary<string, byte[]> documents, Dictionary<string, TarFileEntry> layers)
    {
        Name = name;
        _archive = archive;
        _root = root;
        _documents = documents;
        _layers = layers;
    }

    public string Name { get; }

    /// <summary>Opens the archive a reference names and selects its image.</summary>
    public static async Task<IImageSource> OpenAsync(DockerArchiveReference reference, CancellationToken cancellationToken)
    {
        string name = reference.ToString();
        var archive = await TarFileIndex.OpenAsync(reference.Path, name, cancellationToken).ConfigureAwait(false);
        try
        {
            var images = await ReadManifestListAsync(archive, cancellationToken).ConfigureAwait(false);
            var image = DockerArchiveImageSelector.Select(name, images, reference);
            return await SynthesizeAsync(name, archive, image, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await archive.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public ValueTask<Descriptor> ResolveRootAsync(CancellationToken cancellationToken) => ValueTask.FromResult(_root);

    public ValueTask<Stream> OpenBlobAsync(Descriptor descriptor, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(descriptor);
        string digest = descriptor.ParsedDigest.ToString();
        if (_documents.TryGetValue(digest, out var bytes))
        {
            return ValueTask.FromResult<Stream>(new MemoryStream(bytes, writable: false));
        }
        if (_layers.TryGetValue(digest, out var entry))
        {
            return ValueTask.FromResult(_archive.Open(entry));
        }
        throw new DecantException(DecantErrorKind.NotFound, $"{Name}: no blob {digest} in this image");
    }

    public ValueTask DisposeAsync() => _archive.DisposeAsync();

    private static async Task<List<DockerArchiveManifestEntry>> ReadManifestListAsync(TarFileIndex archive, CancellationToken cancellationToken)
    {
        byte[] bytes = await ReadDocumentAsync(archive, "manifest.json", cancellationToken).ConfigureAwait(false);
        var images = SmallJson.Deserialize(bytes, SourcesJsonContext.Default.ListDockerArchiveManifestEntry, $"{archive.ArchiveName}: manifest.json");
        if (images.Count == 0)
        {
            throw new DecantException(DecantErrorKind.NotFound, $"{archive.ArchiveName}: manifest.json lists no images");
        }
        SmallJson.RequireNoNulls(images, $"{archive.ArchiveName}: manifest.json", "");
        for (int i = 0; i < images.Count; i++)
        {
            SmallJson.RequireNoNulls(images[i].RepoTags, $"{archive.ArchiveName}: manifest.json", $"[{i}].RepoTags");
        }
        return images;
    }

    private static async Task<DockerArchiveSource> SynthesizeAsync(string name, TarFileIndex archive, DockerArchiveManifestEntry image, CancellationToken cancellationToken)
    {
        string configPath = image.Config ?? throw new DecantException(DecantErrorKind.InvalidManifest, $"{name}: manifest.json entry has no Config");
        byte[] configBytes = await ReadDocumentAsync(archive, configPath, cancellationToken).ConfigureAwait(false);
        var config = SmallJson.Deserialize(configBytes, ManifestJsonContext.Default.ImageConfig, $"{name}: config {configPath}");
        var diffIds = config.RootFs?.DiffIds ?? [];
        var layerPaths = image.Layers ?? [];
        SmallJson.RequireNoNulls(diffIds, $"{name}: config {configPath}", "rootfs.diff_ids");
        SmallJson.RequireNoNulls(layerPaths, $"{name}: manifest.json", "Layers");
        if (diffIds.Count != layerPaths.Count)
        {
            throw new DecantException(DecantErrorKind.InvalidManifest, $"{name}: config {configPath} has {diffIds.Count} diff_ids but manifest.json lists {layerPaths.Count} layers");
        }

        var layers = new Dictionary<string, TarFileEntry>(StringComparer.Ordinal);
        var layerDescriptors = new List<Descriptor>(layerPaths.Count);
        for (int i = 0; i < layerPaths.Count; i++)
        {
            var entry = Find(archive, layerPaths[i]);
            var (digest, mediaType) = await IdentifyLayerAsync(archive, entry, diffIds[i], cancellationToken).ConfigureAwait(false);
            layers[digest.ToString()] = entry;
            layerDescriptors.Add(new Descriptor { MediaType = mediaType, Digest = digest.ToString(), Size = entry.Length });
        }

        var (root, documents) = SynthesizedManifest.Create(configBytes, layerDescriptors);
        return new DockerArchiveSource(name, archive, root, documents, layers);
    }

    /// <summary>A layer's digest and media type, by the cheapest sound means (see the class remarks).</summary>
    private static async Task<(Digest Digest, string MediaType)> IdentifyLayerAsync(TarFileIndex archive, TarFileEntry entry, string diffId, CancellationToken cancellationToken)
    {
        var compression = await SniffCompressionAsync(archive, entry, cancellationToken).ConfigureAwait(false);
        string mediaType = compression switch
        {
            LayerCompression.None => MediaTypes.OciLayer,
            LayerCompression.Gzip => MediaTypes.OciLayerGzip,
            LayerCompression.Zstd => MediaTypes.OciLayerZstd,
            _ => throw new DecantException(DecantErrorKind.InvalidLayer, $"{archive.ArchiveName}: layer {entry.Name} is {Decompression.NameOf(compression)}-compressed, which OCI images cannot carry"),
        };
        if (DigestFromBlobPath(entry.Name) is { } named)
        {
            return (named, mediaType);
        }
        if (compression == LayerCompression.None)
        {
            if (!Digest.TryParse(diffId, out var uncompressed))
            {
                throw new DecantException(DecantErrorKind.InvalidManifest, $"{archive.ArchiveName}: config has invalid diff_id \"{diffId}\"");
            }
            return (uncompressed, mediaType);
        }
        return (await HashAsync(archive, entry, cancellationToken).ConfigureAwait(false), mediaType);
    }

    private static Digest? DigestFromBlobPath(string path)
    {
        string[] parts = path.Split('/');
        return parts is ["blobs", var algorithm, var hex] && Digest.TryParse(algorithm + ":" + hex, out var digest) ? digest : null;
    }

    private static async Task<LayerCompression> SniffCompressionAsync(TarFileIndex archive, TarFileEntry entry, CancellationToken cancellationToken)
    {
        byte[] head = new byte[Decompression.MagicLength];
        var stream = archive.Open(entry);
        await using (stream.ConfigureAwait(false))
        {
            int read = await stream.ReadAtLeastAsync(head, head.Length, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
            return Decompression.Detect(head.AsSpan(0, read));
        }
    }

    private static async Task<Digest> HashAsync(TarFileIndex archive, TarFileEntry entry, CancellationToken cancellationToken)
    {
        var stream = archive.Open(entry);
        await using (stream.ConfigureAwait(false))
        {
            byte[] hash = await System.Security.Cryptography.SHA256.HashDataAsync(stream, cancellationToken).ConfigureAwait(false);
            return Digest.FromHash("sha256", hash);
        }
    }

    private static TarFileEntry Find(TarFileIndex archive, string path) =>
        archive.Find(path) ?? throw new DecantException(DecantErrorKind.NotFound, $"{archive.ArchiveName}: manifest.json names {path}, which the archive does not contain");

    private static async Task<byte[]> ReadDocumentAsync(TarFileIndex archive, string path, CancellationToken cancellationToken)
    {
        var entry = Find(archive, path);
        if (entry.Length > SmallJson.MaxDocumentSize)
        {
            throw SmallJson.TooLarge($"{archive.ArchiveName}: {path}", SmallJson.MaxDocumentSize);
        }
        var stream = archive.Open(entry);
        await using (stream.ConfigureAwait(false))
        {
            return await SmallJson.ReadCappedAsync(stream, SmallJson.MaxDocumentSize, $"{archive.ArchiveName}: {path}", cancellationToken).ConfigureAwait(false);
        }
    }
}
