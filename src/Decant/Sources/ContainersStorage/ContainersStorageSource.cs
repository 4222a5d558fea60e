using Decant.Manifests;
using Decant.Model;
using Decant.References;

namespace Decant.Sources.ContainersStorage;

/// <summary>
/// An image in a containers-storage store (podman's, buildah's), read without podman: the store's
/// <c>DRIVER-images/images.json</c> and <c>DRIVER-layers/layers.json</c>, the image's config from its
/// big data, and each layer's tar rebuilt from its tar-split record and the files in its directory
/// (<see cref="TarSplitLayerStream"/>). Each layer is served as an uncompressed tar whose digest is
/// its diff_id, so it is verified on the way like every layer of every source. The image's own
/// manifest is served as it is when it names exactly those layers (an image built locally);
/// otherwise (an image pulled with compressed layers, which the store does not keep) an OCI manifest
/// over the same config and the stored layers is made up, as skopeo does when it copies from a store.
/// </summary>
/// <remarks>
/// Locks are taken as containers/storage's readers take them (<see cref="StoreLock"/>): the image
/// store's while its metadata is read, the layer store's for as long as the source is open, so no
/// podman removes or changes a layer while it is read; a podman that wants to write waits, and a
/// store that podman holds for writing is waited for, up to <see cref="SourceOptions.StoreLockTimeout"/>.
/// </remarks>
internal sealed class ContainersStorageSource : IImageSource
{
    private static readonly string[] SupportedDrivers = ["overlay", "vfs"];

    private readonly StoreLock _layersLock;
    private readonly SynthesizedManifest _documents;
    private readonly Dictionary<string, LayerFiles> _layers;

    private readonly Action<string>? _notify;

    /// <summary>Where a layer's tar is rebuilt from: its tar-split record, or (an overlay layer without one) its diff directory.</summary>
    private sealed record LayerFiles(string Id, string TarSplitPath, string Directory, bool HasTarSplit, bool IsDiff);

    private ContainersStorageSource(string name, StoreLock layersLock, SynthesizedManifest documents, Dictionary<string, LayerFiles> layers, Action<string>? notify)
    {
        Name = name;
        _layersLock = layersLock;
        _documents = documents;
        _layers = layers;
        _notify = notify;
    }

    public string Name { get; }

    /// <summary>
    /// Opens the store a reference names (or the default one) and finds its image; without a store
    /// in the reference, an image the default store lacks is looked for in the configuration's
    /// <c>additionalimagestores</c>, in order, as containers/storage does.
    /// </summary>
    public static async Task<IImageSource> OpenAsync(ContainersStorageReference reference, SourceOptions options, CancellationToken cancellationToken)
    {
        var location = reference.Store is { } store
            ? new StoreLocation(store.Driver ?? "", store.GraphRoot, store.RunRoot ?? "", ConfigFile: null)
            : await StorageConf.ResolveDefaultAsync(cancellationToken).ConfigureAwait(false);
        string driver = location.Driver.Length > 0 ? location.Driver : DetectDriver(location.GraphRoot);
        try
        {
            return await OpenInStoreAsync(location.GraphRoot, driver, reference.Image, options, cancellationToken).ConfigureAwait(false);
        }
        catch (DecantException notFound) when (notFound.Kind == DecantErrorKind.NotFound && location.AdditionalImageStores.Count > 0)
        {
            foreach (string additional in location.AdditionalImageStores.Where(Directory.Exists))
            {
                try
                {
                    return await OpenInStoreAsync(additional, driver, reference.Image, options, cancellationToken).ConfigureAwait(false);
                }
                catch (DecantException error) when (error.Kind == DecantErrorKind.NotFound)
                {
                    // not there either
                }
            }
            throw new DecantException(DecantErrorKind.NotFound, $"{notFound.Message}; nor is it in the additional image stores {string.Join(", ", location.AdditionalImageStores)}", notFound);
        }
    }

    /// <summary>Opens the store at <paramref name="graphRoot"/> and finds <paramref name="imageName"/> in it.</summary>
    private static async Task<IImageSource> OpenInStoreAsync(string graphRoot, string driver, string imageName, SourceOptions options, CancellationToken cancellationToken)
    {
        string storeName = $"{ContainersStorageReference.TransportName}:[{driver}@{graphRoot}]";
        if (!SupportedDrivers.Contains(driver))
        {
            throw new DecantException(DecantErrorKind.Usage, $"{storeName}: the {driver} storage driver is not supported; Decant reads stores of the {string.Join(" and ", SupportedDrivers)} drivers");
        }
        if (!Directory.Exists(graphRoot))
        {
            throw new DecantException(DecantErrorKind.NotFound, $"{storeName}: the store's directory {graphRoot} does not exist");
        }
        string imagesDirectory = Path.Combine(graphRoot, driver + "-images");
        string layersDirectory = Path.Combine(graphRoot, driver + "-layers");
        var layersLock = await StoreLock.AcquireReadAsync(Path.Combine(layersDirectory, "layers.lock"), storeName, options.StoreLockTimeout, options.Notify, cancellationToken).ConfigureAwait(false);
        try
        {
            var layers = await ReadLayersAsync(layersDirectory, storeName, cancellationToken).ConfigureAwait(false);
            using (await StoreLock.AcquireReadAsync(Path.Combine(imagesDirectory, "images.lock"), storeName, options.StoreLockTimeout, options.Notify, cancellationToken).ConfigureAwait(false))
            {
                var images = await ReadListAsync(Path.Combine(imagesDirectory, "images.json"), StoreJsonContext.Default.ListStoredImage, storeName, cancellationToken).ConfigureAwait(false);
                var image = StoredImageLookup.Find(images, imageName, storeName);
                string name = $"{storeName}{imageName} (image {ShortId(image.Id)})";
                var chain = LayerChain(image, layers, name);
                // Two layers with one diff_id (two empty layers) are the same bytes: either serves both.
                var files = new Dictionary<string, LayerFiles>(StringComparer.Ordinal);
                foreach (var layer in chain)
                {
                    string tarSplit = Path.Combine(layersDirectory, layer.Id + ".tar-split.gz");
                    files.TryAdd(layer.DiffDigest!, new LayerFiles(layer.Id, tarSplit, LayerDirectory(graphRoot, driver, layer.Id), File.Exists(tarSplit), IsDiff: driver != "vfs"));
                }
                var documents = await ReadDocumentsAsync(Path.Combine(imagesDirectory, image.Id), image, chain, name, cancellationToken).ConfigureAwait(false);
                return new ContainersStorageSource(name, layersLock, documents, files, options.Notify);
            }
        }
        catch
        {
            layersLock.Dispose();
            throw;
        }
    }

    public ValueTask<Descriptor> ResolveRootAsync(CancellationToken cancellationToken) => ValueTask.FromResult(_documents.Root);

    public ValueTask<Stream> OpenBlobAsync(Descriptor descriptor, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(descriptor);
        cancellationToken.ThrowIfCancellationRequested();
        if (_documents.Documents.TryGetValue(descriptor.Digest, out var bytes))
        {
            return ValueTask.FromResult<Stream>(new MemoryStream(bytes, writable: false));
        }
        if (_layers.TryGetValue(descriptor.Digest, out var layer))
        {
            string layerName = $"{Name}: layer {ShortId(layer.Id)}";
            if (layer.HasTarSplit)
            {
                return ValueTask.FromResult<Stream>(TarSplitLayerStream.Open(layer.TarSplitPath, layer.Directory, layerName));
            }
            if (!layer.IsDiff)
            {
                // A vfs layer's directory is the whole filesystem up to it, not the layer's changes.
                throw new DecantException(DecantErrorKind.InvalidLayer, $"{layerName}: the store has no tar-split record ({layer.TarSplitPath}), and a vfs layer cannot be recovered without one");
            }
            _notify?.Invoke($"{layerName}: the store has no tar-split record ({layer.TarSplitPath}); the layer is read from its directory {layer.Directory}, so its diff_id {descriptor.Digest} is not checked (and it is not kept in the layer cache)");
            return ValueTask.FromResult<Stream>(DiffDirectoryLayerStream.Open(layer.Directory, layerName));
        }
        throw new DecantException(DecantErrorKind.NotFound, $"{Name}: no blob {descriptor.Digest}");
    }

    /// <summary>A layer without its tar-split record is served as a tar of its directory: the same tree, not the same bytes.</summary>
    public bool CanVerify(Descriptor descriptor) =>
        !(_layers.TryGetValue((descriptor ?? throw new ArgumentNullException(nameof(descriptor))).Digest, out var layer) && !layer.HasTarSplit && layer.IsDiff);

    public ValueTask DisposeAsync()
    {
        _layersLock.Dispose();
        return ValueTask.CompletedTask;
    }

    /// <summary>The driver a store was made with, from the directories it holds (overlay when it holds neither, podman's default).</summary>
    private static string DetectDriver(string graphRoot) =>
        SupportedDrivers.FirstOrDefault(driver => Directory.Exists(Path.Combine(graphRoot, driver + "-images"))) ?? "overlay";

    private static string LayerDirectory(string graphRoot, string driver, string layerId) =>
        driver == "vfs" ? Path.Combine(graphRoot, "vfs", "dir", layerId) : Path.Combine(graphRoot, "overlay", layerId, "diff");

    private static string ShortId(string id) => id[..Math.Min(12, id.Length)];

    /// <summary>Every layer of the store, from <c>layers.json</c> and, where it exists, <c>volatile-layers.json</c>.</summary>
    private static async Task<Dictionary<string, StoredLayer>> ReadLayersAsync(string layersDirectory, string storeName, CancellationToken cancellationToken)
    {
        var layers = new Dictionary<string, StoredLayer>(StringComparer.Ordinal);
        foreach (string file in new[] { "layers.json", "volatile-layers.json" })
        {
            string path = Path.Combine(layersDirectory, file);
            if (file != "layers.json" && !File.Exists(path))
            {
                continue;
            }
            foreach (var layer in await ReadListAsync(path, StoreJsonContext.Default.ListStoredLayer, storeName, cancellationToken).ConfigureAwait(false))
            {
                layers[layer.Id] = layer;
            }
        }
        return layers;
    }

    /// <summary>The largest store metadata file read (a store with thousands of images and layers stays well below it).</summary>
    private const int MaxMetadataSize = 256 * 1024 * 1024;

    private static async Task<List<T>> ReadListAsync<T>(string path, System.Text.Json.Serialization.Metadata.JsonTypeInfo<List<T>> typeInfo, string storeName, CancellationToken cancellationToken)
    {
        if (!File.Exists(path))
        {
            // A store where nothing was ever stored has no metadata yet.
            return [];
        }
        string what = $"{storeName}: {path}";
        byte[] bytes = await ReadFileAsync(path, MaxMetadataSize, what, cancellationToken).ConfigureAwait(false);
        return bytes.Length == 0 ? [] : SmallJson.Deserialize(bytes, typeInfo, what);
    }

    /// <summary>The image's layers, bottom first, each complete and with a recorded diff digest and size.</summary>
    private static List<StoredLayer> LayerChain(StoredImage image, Dictionary<string, StoredLayer> layers, string imageName)
    {
        var chain = new List<StoredLayer>();
        for (string? id = image.TopLayer; !string.IsNullOrEmpty(id);)
        {
            if (!layers.TryGetValue(id, out var layer))
            {
                throw new DecantException(DecantErrorKind.InvalidManifest, $"{imageName}: layer {ShortId(id)} is not in the store's layers.json");
            }
            if (chain.Count > 4096)
            {
                throw new DecantException(DecantErrorKind.InvalidManifest, $"{imageName}: the chain of parent layers is longer than 4096 (a cycle in layers.json?)");
            }
            if (layer.Flags?.TryGetValue("incomplete", out var incomplete) == true && incomplete.ValueKind == System.Text.Json.JsonValueKind.True)
            {
                throw new DecantException(DecantErrorKind.InvalidLayer, $"{imageName}: layer {ShortId(id)} is incomplete (being written, or left half-written by a crash)");
            }
            if (!Digest.TryParse(layer.DiffDigest, out _) || layer.DiffSize is not >= 0)
            {
                throw new DecantException(DecantErrorKind.InvalidLayer, $"{imageName}: layer {ShortId(id)} has no recorded uncompressed digest and size (diff-digest, diff-size) in layers.json");
            }
            chain.Add(layer);
            id = layer.Parent;
        }
        chain.Reverse();
        return chain;
    }

    /// <summary>
    /// The image's manifest and config: the stored manifest when it names exactly the stored layers
    /// (uncompressed, in order) and the config; otherwise one made up over them.
    /// </summary>
    private static async Task<SynthesizedManifest> ReadDocumentsAsync(string imageDirectory, StoredImage image, List<StoredLayer> chain, string imageName, CancellationToken cancellationToken)
    {
        string configKey = "sha256:" + image.Id;
        byte[] config = await ReadBigDataAsync(imageDirectory, configKey, imageName, cancellationToken).ConfigureAwait(false)
            ?? throw new DecantException(DecantErrorKind.InvalidManifest, $"{imageName}: the store holds no config for the image (big data {configKey})");
        var layers = chain.Select(layer => new Descriptor { MediaType = MediaTypes.OciLayer, Digest = layer.DiffDigest!, Size = layer.DiffSize!.Value }).ToList();
        if (await ReadBigDataAsync(imageDirectory, "manifest", imageName, cancellationToken).ConfigureAwait(false) is { } stored
            && TryParseManifest(stored) is { } manifest
            && manifest.Config.Digest == configKey
            && manifest.Layers.Select(layer => (layer.Digest, layer.Size)).SequenceEqual(layers.Select(layer => (layer.Digest, layer.Size))))
        {
            var root = new Descriptor { MediaType = manifest.MediaType ?? MediaTypes.OciManifest, Digest = Digest.Sha256Of(stored).ToString(), Size = stored.Length };
            return new SynthesizedManifest(root, new Dictionary<string, byte[]>(StringComparer.Ordinal) { [root.Digest] = stored, [configKey] = config });
        }
        return SynthesizedManifest.Create(config, layers);
    }

    private static ImageManifest? TryParseManifest(byte[] bytes)
    {
        try
        {
            var manifest = System.Text.Json.JsonSerializer.Deserialize(bytes, ManifestJsonContext.Default.ImageManifest);
            return manifest is { SchemaVersion: 2 } ? manifest : null;
        }
        catch (System.Text.Json.JsonException)
        {
            return null;
        }
    }

    /// <summary>
    /// One item of an image's big data, or null when the store has none under that key. Keys made of
    /// lower-case letters, digits and dots are file names as they are; any other is <c>=</c> and its base64.
    /// </summary>
    private static async Task<byte[]?> ReadBigDataAsync(string imageDirectory, string key, string imageName, CancellationToken cancellationToken)
    {
        bool plain = key.Length > 0 && key.All(c => c is '.' or (>= '0' and <= '9') or (>= 'a' and <= 'z'));
        string path = Path.Combine(imageDirectory, plain ? key : "=" + Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(key)));
        if (!File.Exists(path))
        {
            return null;
        }
        return await ReadFileAsync(path, SmallJson.MaxDocumentSize, $"{imageName}: {key}", cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A store file's bytes, failing as soon as it holds more than <paramref name="cap"/>.</summary>
    private static async Task<byte[]> ReadFileAsync(string path, int cap, string what, CancellationToken cancellationToken)
    {
        var file = new FileStream(path, new FileStreamOptions { Mode = FileMode.Open, Access = FileAccess.Read, Options = FileOptions.Asynchronous });
        await using (file.ConfigureAwait(false))
        {
            return await SmallJson.ReadCappedAsync(file, cap, what, cancellationToken).ConfigureAwait(false);
        }
    }
}
