using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Decant.Manifests;

namespace Decant.Tests.Support;

/// <summary>How a synthetic layer blob is stored.</summary>
public enum LayerCompressionForTest
{
    None,
    Gzip,
}

/// <summary>
/// The tests' one OCI image layout writer, for what real tools cannot make. Layers are exact tar
/// bytes (so a test controls every header), stored gzip-compressed or as they are; configs,
/// manifests, indexes (multi-platform, nested) and index.json are written as JSON by hand, not
/// through Decant's own model, so a layout is an input Decant had no part in. Tests that need
/// broken layouts add raw blobs (<see cref="AddBlob"/>), list descriptors that lie about a blob
/// (<see cref="Tag"/> takes any descriptor), corrupt blobs or write wrong diff_ids.
/// </summary>
internal sealed class SyntheticImage : IDisposable
{
    /// <summary>The tag <see cref="WriteLayout"/> gives its image.</summary>
    public const string DefaultTag = "test";

    private const string RefNameAnnotation = "org.opencontainers.image.ref.name";
    private const string LayerType = "application/vnd.oci.image.layer.v1.tar";
    private const string GzipLayerType = "application/vnd.oci.image.layer.v1.tar+gzip";
    private const string ConfigType = "application/vnd.oci.image.config.v1+json";
    private const string ManifestType = "application/vnd.oci.image.manifest.v1+json";
    private const string IndexType = "application/vnd.oci.image.index.v1+json";

    private readonly ScratchDirectory? _owned;
    private readonly List<Descriptor> _indexEntries = [];

    /// <summary>A layout in a new temporary directory, removed by <see cref="Dispose"/>.</summary>
    public SyntheticImage()
    {
        _owned = new ScratchDirectory();
        Root = _owned.Path;
        Initialize();
    }

    /// <summary>A layout in <paramref name="directory"/> (created when missing), which the caller owns: <see cref="Dispose"/> leaves it.</summary>
    public SyntheticImage(string directory)
    {
        Root = directory;
        Initialize();
    }

    public string Root { get; }

    /// <summary>
    /// Writes a layout holding one linux/amd64 image of <paramref name="layerTars"/> into
    /// <paramref name="directory"/>, tagged <see cref="DefaultTag"/>; returns <c>oci:DIR:test</c>.
    /// </summary>
    /// <param name="diffIds">Diff_ids to write instead of the true ones (for integrity tests).</param>
    public static string WriteLayout(string directory, IEnumerable<byte[]> layerTars, LayerCompressionForTest compression = LayerCompressionForTest.Gzip, IReadOnlyList<string>? diffIds = null)
    {
        using var layout = new SyntheticImage(directory);
        layout.Tag(layout.AddImage(layerTars, compression, diffIds: diffIds).Manifest, DefaultTag);
        return layout.Reference(DefaultTag);
    }

    /// <summary>The <c>oci:</c> reference of this layout, with an optional tag.</summary>
    public string Reference(string? tag = null) => tag is null ? $"oci:{Root}" : $"oci:{Root}:{tag}";

    /// <summary>The path of the blob <paramref name="digest"/> (<c>algorithm:hex</c>) in the layout at <paramref name="directory"/>.</summary>
    public static string BlobPath(string directory, string digest)
    {
        string[] parts = digest.Split(':', 2);
        return Path.Combine(directory, "blobs", parts[0], parts[1]);
    }

    public string BlobPath(Descriptor descriptor) => BlobPath(Root, descriptor.Digest);

    /// <summary>Stores <paramref name="bytes"/> as a blob; returns a descriptor of it with <paramref name="mediaType"/>.</summary>
    public Descriptor AddBlob(byte[] bytes, string mediaType)
    {
        string digest = DigestOf(bytes);
        File.WriteAllBytes(BlobPath(Root, digest), bytes);
        return new Descriptor { MediaType = mediaType, Digest = digest, Size = bytes.Length };
    }

    /// <summary>
    /// Adds an image: the layers (compressed as <paramref name="compression"/> says, with the media
    /// type that goes with it unless <paramref name="layerMediaType"/> names another), a config
    /// listing their diff_ids (or <paramref name="diffIds"/> instead), and the manifest tying them together.
    /// </summary>
    public WrittenImage AddImage(IEnumerable<byte[]> layerTars, LayerCompressionForTest compression = LayerCompressionForTest.None, string os = "linux", string architecture = "amd64", string? variant = null, string? layerMediaType = null, IReadOnlyList<string>? diffIds = null)
    {
        bool gzip = compression == LayerCompressionForTest.Gzip;
        var layers = new List<Descriptor>();
        var trueDiffIds = new List<string>();
        foreach (byte[] tar in layerTars)
        {
            trueDiffIds.Add(DigestOf(tar));
            layers.Add(AddBlob(gzip ? Gzip(tar) : tar, layerMediaType ?? (gzip ? GzipLayerType : LayerType)));
        }
        var config = new JsonObject { ["architecture"] = architecture, ["os"] = os };
        if (variant is not null)
        {
            config["variant"] = variant;
        }
        config["config"] = new JsonObject { ["Env"] = new JsonArray("PATH=/bin"), ["Cmd"] = new JsonArray("/bin/sh") };
        config["rootfs"] = new JsonObject { ["type"] = "layers", ["diff_ids"] = new JsonArray([.. (diffIds ?? trueDiffIds).Select(d => (JsonNode)d)]) };
        byte[] configBytes = Encoding.UTF8.GetBytes(config.ToJsonString());
        var configDescriptor = AddBlob(configBytes, ConfigType);
        return new WrittenImage(AddManifest(configDescriptor, layers), configDescriptor, configBytes, layers);
    }

    /// <summary>Adds an image of <paramref name="layerCount"/> uncompressed layers of one small file each (see the other overload).</summary>
    /// <param name="diffIdCount">How many of the layers' diff_ids the config lists (all when null).</param>
    public WrittenImage AddImage(string os, string architecture, string? variant = null, int layerCount = 1, string layerMediaType = LayerType, int? diffIdCount = null)
    {
        var tars = Enumerable.Range(0, layerCount).Select(i => new LayerTar().File($"{architecture}-{i}.txt", $"layer {i} for {os}/{architecture}").ToArray()).ToList();
        var diffIds = diffIdCount is { } count ? tars.Take(count).Select(DigestOf).ToList() : null;
        return AddImage(tars, LayerCompressionForTest.None, os, architecture, variant, layerMediaType, diffIds);
    }

    /// <summary>Adds a linux/amd64 image with one layer and tags it in index.json.</summary>
    public WrittenImage AddTaggedImage(string tag)
    {
        var image = AddImage("linux", "amd64");
        Tag(image.Manifest, tag);
        return image;
    }

    /// <summary>Adds an OCI image manifest of <paramref name="config"/> and <paramref name="layers"/>.</summary>
    public Descriptor AddManifest(Descriptor config, IEnumerable<Descriptor> layers)
    {
        var manifest = new JsonObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = ManifestType,
            ["config"] = Json(config),
            ["layers"] = new JsonArray([.. layers.Select(l => (JsonNode)Json(l))]),
        };
        return AddBlob(Encoding.UTF8.GetBytes(manifest.ToJsonString()), ManifestType);
    }

    /// <summary>Adds an OCI image index listing the children with the given platforms (null: no platform field).</summary>
    public Descriptor AddIndex(params (Descriptor Child, Platform? Platform)[] children)
    {
        var index = IndexJson(children.Select(c => c.Child with { Platform = c.Platform }));
        return AddBlob(Encoding.UTF8.GetBytes(index.ToJsonString()), IndexType);
    }

    /// <summary>Lists <paramref name="descriptor"/> (as it is, true or not) in index.json, tagged when <paramref name="tag"/> is given.</summary>
    public void Tag(Descriptor descriptor, string? tag)
    {
        _indexEntries.Add(tag is null ? descriptor : descriptor with { Annotations = new Dictionary<string, string> { [RefNameAnnotation] = tag } });
        WriteIndexJson();
    }

    /// <summary>Flips one byte of a stored blob, keeping its size.</summary>
    public void Corrupt(Descriptor descriptor)
    {
        string path = BlobPath(descriptor);
        byte[] bytes = File.ReadAllBytes(path);
        bytes[bytes.Length / 2] ^= 0x01;
        File.WriteAllBytes(path, bytes);
    }

    public static byte[] Gzip(byte[] data)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true))
        {
            gzip.Write(data);
        }
        return output.ToArray();
    }

    public void Dispose() => _owned?.Dispose();

    private void Initialize()
    {
        Directory.CreateDirectory(Path.Combine(Root, "blobs", "sha256"));
        File.WriteAllText(Path.Combine(Root, "oci-layout"), """{"imageLayoutVersion":"1.0.0"}""");
        WriteIndexJson();
    }

    private void WriteIndexJson() => File.WriteAllText(Path.Combine(Root, "index.json"), IndexJson(_indexEntries).ToJsonString());

    private static string DigestOf(byte[] bytes) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(bytes));

    private static JsonObject IndexJson(IEnumerable<Descriptor> manifests) => new()
    {
        ["schemaVersion"] = 2,
        ["mediaType"] = IndexType,
        ["manifests"] = new JsonArray([.. manifests.Select(m => (JsonNode)Json(m))]),
    };

    private static JsonObject Json(Descriptor descriptor)
    {
        var json = new JsonObject { ["mediaType"] = descriptor.MediaType, ["digest"] = descriptor.Digest, ["size"] = descriptor.Size };
        if (descriptor.Urls is { } urls)
        {
            json["urls"] = new JsonArray([.. urls.Select(u => (JsonNode)u)]);
        }
        if (descriptor.Platform is { } platform)
        {
            var platformJson = new JsonObject { ["os"] = platform.Os, ["architecture"] = platform.Architecture };
            if (platform.Variant is not null)
            {
                platformJson["variant"] = platform.Variant;
            }
            json["platform"] = platformJson;
        }
        if (descriptor.Annotations is { } annotations)
        {
            json["annotations"] = new JsonObject(annotations.Select(a => KeyValuePair.Create(a.Key, (JsonNode?)a.Value)));
        }
        return json;
    }
}

/// <summary>The blobs of an image that <see cref="SyntheticImage"/> added.</summary>
internal sealed record WrittenImage(Descriptor Manifest, Descriptor Config, byte[] ConfigBytes, IReadOnlyList<Descriptor> Layers);
