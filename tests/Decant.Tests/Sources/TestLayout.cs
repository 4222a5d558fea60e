using System.Formats.Tar;
using System.Text;
using System.Text.Json;
using Decant.Manifests;
using Decant.Model;

namespace Decant.Tests.Sources;

/// <summary>
/// Writes OCI image layouts by hand in a temporary directory, for cases real tools cannot make:
/// multi-platform and nested indexes, corrupt or oversized blobs, unknown media types.
/// </summary>
internal sealed class TestLayout : IDisposable
{
    private readonly List<Descriptor> _indexEntries = [];

    public TestLayout()
    {
        Root = Directory.CreateTempSubdirectory("decant-layout-").FullName;
        File.WriteAllText(Path.Combine(Root, "oci-layout"), """{"imageLayoutVersion":"1.0.0"}""");
        WriteIndexJson();
    }

    public string Root { get; }

    /// <summary>The <c>oci:</c> reference of this layout, with an optional tag.</summary>
    public string Reference(string? tag = null) => tag is null ? $"oci:{Root}" : $"oci:{Root}:{tag}";

    public Descriptor AddBlob(byte[] bytes, string mediaType)
    {
        var digest = Digest.Sha256Of(bytes);
        string directory = Path.Combine(Root, "blobs", digest.Algorithm);
        Directory.CreateDirectory(directory);
        File.WriteAllBytes(Path.Combine(directory, digest.Hex), bytes);
        return new Descriptor { MediaType = mediaType, Digest = digest.ToString(), Size = bytes.Length };
    }

    public string BlobPath(Descriptor descriptor) =>
        Path.Combine(Root, "blobs", descriptor.ParsedDigest.Algorithm, descriptor.ParsedDigest.Hex);

    /// <summary>Adds a config and uncompressed layers (one small file each) and the manifest tying them together.</summary>
    public TestImage AddImage(string os, string architecture, string? variant = null, int layerCount = 1, string layerMediaType = MediaTypes.OciLayer, int? diffIdCount = null)
    {
        var layers = new List<Descriptor>();
        var diffIds = new List<string>();
        for (int i = 0; i < layerCount; i++)
        {
            byte[] tar = SingleFileTar($"{architecture}-{i}.txt", $"layer {i} for {os}/{architecture}");
            layers.Add(AddBlob(tar, layerMediaType));
            diffIds.Add(Digest.Sha256Of(tar).ToString());
        }
        var config = new ImageConfig
        {
            Os = os,
            Architecture = architecture,
            Variant = variant,
            RootFs = new RootFs { Type = "layers", DiffIds = diffIds.Take(diffIdCount ?? layerCount).ToList() },
        };
        byte[] configBytes = JsonSerializer.SerializeToUtf8Bytes(config, ManifestJsonContext.Default.ImageConfig);
        var configDescriptor = AddBlob(configBytes, MediaTypes.OciConfig);
        var manifest = new ImageManifest { SchemaVersion = 2, MediaType = MediaTypes.OciManifest, Config = configDescriptor, Layers = layers };
        var manifestDescriptor = AddBlob(JsonSerializer.SerializeToUtf8Bytes(manifest, ManifestJsonContext.Default.ImageManifest), MediaTypes.OciManifest);
        return new TestImage(manifestDescriptor, configDescriptor, configBytes, layers);
    }

    /// <summary>Adds a linux/amd64 image with one layer and tags it in index.json.</summary>
    public TestImage AddTaggedImage(string tag)
    {
        var image = AddImage("linux", "amd64");
        Tag(image.Manifest, tag);
        return image;
    }

    /// <summary>Adds an index listing the children with the given platforms (null = no platform field).</summary>
    public Descriptor AddIndex(params (Descriptor Child, Platform? Platform)[] children)
    {
        var index = new ImageIndex
        {
            SchemaVersion = 2,
            MediaType = MediaTypes.OciIndex,
            Manifests = children.Select(c => c.Child with { Platform = c.Platform }).ToList(),
        };
        return AddBlob(JsonSerializer.SerializeToUtf8Bytes(index, ManifestJsonContext.Default.ImageIndex), MediaTypes.OciIndex);
    }

    /// <summary>Lists a descriptor in index.json, tagged when <paramref name="tag"/> is given.</summary>
    public void Tag(Descriptor descriptor, string? tag)
    {
        _indexEntries.Add(tag is null ? descriptor : descriptor with { Annotations = new Dictionary<string, string> { ["org.opencontainers.image.ref.name"] = tag } });
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

    public static byte[] SingleFileTar(string name, string content)
    {
        using var buffer = new MemoryStream();
        using (var writer = new TarWriter(buffer, TarEntryFormat.Pax, leaveOpen: true))
        {
            var entry = new PaxTarEntry(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(Encoding.UTF8.GetBytes(content)) };
            writer.WriteEntry(entry);
        }
        return buffer.ToArray();
    }

    private void WriteIndexJson()
    {
        var index = new ImageIndex { SchemaVersion = 2, MediaType = MediaTypes.OciIndex, Manifests = _indexEntries };
        File.WriteAllBytes(Path.Combine(Root, "index.json"), JsonSerializer.SerializeToUtf8Bytes(index, ManifestJsonContext.Default.ImageIndex));
    }

    public void Dispose() => Directory.Delete(Root, recursive: true);
}

/// <summary>What <see cref="TestLayout.AddImage"/> wrote.</summary>
internal sealed record TestImage(Descriptor Manifest, Descriptor Config, byte[] ConfigBytes, IReadOnlyList<Descriptor> Layers);
