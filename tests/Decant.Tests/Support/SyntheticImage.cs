using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace Decant.Tests.Support;

/// <summary>How a synthetic layer blob is stored.</summary>
public enum LayerCompressionForTest
{
    None,
    Gzip,
}

/// <summary>
/// Writes an OCI image layout from raw layer tars: blobs, config (with diff_ids), manifest and
/// index.json. The layers are exact bytes, so a test controls every header.
/// </summary>
public static class SyntheticImage
{
    public const string Tag = "test";

    /// <summary>Writes the layout into <paramref name="directory"/> and returns the reference <c>oci:DIR:test</c>.</summary>
    /// <param name="diffIdOverrides">Diff_ids to write instead of the true ones (for integrity tests).</param>
    public static string WriteLayout(string directory, IEnumerable<byte[]> layerTars, LayerCompressionForTest compression = LayerCompressionForTest.Gzip, string os = "linux", string architecture = "amd64", IReadOnlyList<string>? diffIdOverrides = null)
    {
        Directory.CreateDirectory(Path.Combine(directory, "blobs", "sha256"));
        File.WriteAllText(Path.Combine(directory, "oci-layout"), "{\"imageLayoutVersion\":\"1.0.0\"}");
        var layers = new JsonArray();
        var diffIds = new JsonArray();
        foreach (var tar in layerTars)
        {
            diffIds.Add(diffIdOverrides?[diffIds.Count] ?? "sha256:" + Convert.ToHexStringLower(SHA256.HashData(tar)));
            byte[] blob = compression == LayerCompressionForTest.Gzip ? Gzip(tar) : tar;
            layers.Add(Descriptor(compression == LayerCompressionForTest.Gzip ? "application/vnd.oci.image.layer.v1.tar+gzip" : "application/vnd.oci.image.layer.v1.tar", WriteBlob(directory, blob), blob.Length));
        }
        var config = new JsonObject
        {
            ["architecture"] = architecture,
            ["os"] = os,
            ["config"] = new JsonObject { ["Env"] = new JsonArray("PATH=/bin"), ["Cmd"] = new JsonArray("/bin/sh") },
            ["rootfs"] = new JsonObject { ["type"] = "layers", ["diff_ids"] = diffIds },
        };
        byte[] configBytes = Encoding.UTF8.GetBytes(config.ToJsonString());
        var manifest = new JsonObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = "application/vnd.oci.image.manifest.v1+json",
            ["config"] = Descriptor("application/vnd.oci.image.config.v1+json", WriteBlob(directory, configBytes), configBytes.Length),
            ["layers"] = layers,
        };
        byte[] manifestBytes = Encoding.UTF8.GetBytes(manifest.ToJsonString());
        var manifestDescriptor = Descriptor("application/vnd.oci.image.manifest.v1+json", WriteBlob(directory, manifestBytes), manifestBytes.Length);
        manifestDescriptor["annotations"] = new JsonObject { ["org.opencontainers.image.ref.name"] = Tag };
        var index = new JsonObject { ["schemaVersion"] = 2, ["manifests"] = new JsonArray(manifestDescriptor) };
        File.WriteAllText(Path.Combine(directory, "index.json"), index.ToJsonString());
        return $"oci:{directory}:{Tag}";
    }

    /// <summary>The path of a blob in a layout, for tests that corrupt it.</summary>
    public static string BlobPath(string directory, string digest) => Path.Combine(directory, "blobs", "sha256", digest["sha256:".Length..]);

    public static byte[] Gzip(byte[] data)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true))
        {
            gzip.Write(data);
        }
        return output.ToArray();
    }

    private static string WriteBlob(string directory, byte[] blob)
    {
        string digest = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(blob));
        File.WriteAllBytes(BlobPath(directory, digest), blob);
        return digest;
    }

    private static JsonObject Descriptor(string mediaType, string digest, long size) =>
        new() { ["mediaType"] = mediaType, ["digest"] = digest, ["size"] = size };
}
