using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Decant.Tests.Support;

/// <summary>
/// Three real registries on 127.0.0.1 sharing one storage: <see cref="Anonymous"/> (no auth),
/// <see cref="Basic"/> (htpasswd, bcrypt) and <see cref="Token"/> (token auth backed by
/// <see cref="RegistryTokenIssuer"/>). The corpus images are pushed with <c>skopeo copy</c>:
/// umoci-multi (gzip), its zstd copy (<c>--preserve-digests</c>), buildah-opaque, a Docker schema2
/// copy (<c>--format v2s2</c>) and a two-platform OCI index. Missing tools fail the collection.
/// </summary>
public sealed class RegistryFixture : IAsyncLifetime
{
    public const string BasicUser = "basicuser";
    public const string BasicPassword = "basic-secret-pw";
    public const string TokenUser = "tokenuser";
    public const string TokenPassword = "token-secret-pw";

    /// <summary>Repositories (tag <see cref="RealImages.Tag"/>) on every registry.</summary>
    public const string UmociMulti = "corpus/umoci-multi";
    public const string UmociMultiZstd = "corpus/umoci-multi-zstd";
    public const string BuildahOpaque = "corpus/buildah-opaque";
    public const string UmociMultiSchema2 = "corpus/umoci-multi-v2s2";
    public const string MultiPlatform = "corpus/multi-platform";

    private string _root = "";

    public RealImages Images { get; } = new();

    public RegistryServer Anonymous { get; private set; } = null!;
    public RegistryServer Basic { get; private set; } = null!;
    public RegistryServer Token { get; private set; } = null!;
    public RegistryTokenIssuer Issuer { get; private set; } = null!;

    /// <summary>The two-platform layout pushed as <see cref="MultiPlatform"/>: linux/amd64 = umoci-multi, linux/arm64 = buildah-opaque's layers.</summary>
    public string MultiPlatformLayout => Path.Combine(_root, "multi-platform");

    /// <summary>The buildah-opaque layout relabelled linux/arm64, the index's second image.</summary>
    public string Arm64Layout => Path.Combine(_root, "arm64-opaque");

    public async Task InitializeAsync()
    {
        await Images.InitializeAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        var token = timeout.Token;
        _root = Images.NewScratchDirectory("registries");
        string storage = Path.Combine(_root, "storage");
        Directory.CreateDirectory(storage);

        // Pushed manifests may name foreign layers on 127.0.0.1 (distribution checks their URLs).
        Anonymous = await RegistryServer.StartAsync(Path.Combine(_root, "anonymous"), storage, """
            validation:
              manifests:
                urls:
                  allow:
                    - '^http://127\.0\.0\.1:'
            """, token);

        string htpasswd = Path.Combine(_root, "htpasswd");
        var hash = await Tools.RunCheckedAsync("htpasswd", ["-Bbn", BasicUser, BasicPassword], token);
        await File.WriteAllTextAsync(htpasswd, hash.StandardOutput.Trim() + "\n", token);
        Basic = await RegistryServer.StartAsync(Path.Combine(_root, "basic"), storage, $"""
            auth:
              htpasswd:
                realm: decant-basic
                path: {htpasswd}
            """, token);

        Issuer = new RegistryTokenIssuer(new Dictionary<string, string> { [TokenUser] = TokenPassword });
        string bundle = Path.Combine(_root, "token-root.pem");
        await File.WriteAllTextAsync(bundle, Issuer.CertificatePem, token);
        Token = await RegistryServer.StartAsync(Path.Combine(_root, "token"), storage, $"""
            auth:
              token:
                realm: {Issuer.Realm}
                service: {RegistryTokenIssuer.Service}
                issuer: {RegistryTokenIssuer.Issuer}
                rootcertbundle: {bundle}
            """, token);

        await PushAsync(["oci:" + Images.UmociMulti + ":latest"], UmociMulti, token);
        await PushAsync(["--preserve-digests", "oci:" + Images.UmociMultiZstd + ":latest"], UmociMultiZstd, token);
        await PushAsync(["oci:" + Images.BuildahOpaque + ":latest"], BuildahOpaque, token);
        await PushAsync(["--format", "v2s2", "oci:" + Images.UmociMulti + ":latest"], UmociMultiSchema2, token);
        await BuildMultiPlatformLayoutAsync(token);
        await PushAsync(["--all", "oci:" + MultiPlatformLayout + ":latest"], MultiPlatform, token);
    }

    /// <summary><c>docker://HOST/REPOSITORY:latest</c> on a registry.</summary>
    public static string Reference(RegistryServer registry, string repository) => $"docker://{registry.Host}/{repository}:{RealImages.Tag}";

    /// <summary>Copies an image to <c>REPOSITORY:latest</c> on the registries with <c>skopeo copy</c>; <paramref name="sourceArguments"/> are skopeo's options and the source image.</summary>
    public async Task PushAsync(IReadOnlyList<string> sourceArguments, string repository, CancellationToken cancellationToken) =>
        await Tools.RunCheckedAsync("skopeo", ["--insecure-policy", "copy", "--quiet", "--dest-tls-verify=false", .. sourceArguments, $"docker://{Anonymous.Host}/{repository}:{RealImages.Tag}"], cancellationToken);

    /// <summary>
    /// Builds an OCI layout whose tag points at an image index of two images: umoci-multi
    /// (linux/amd64) and buildah-opaque with its config rewritten to linux/arm64 (same layers).
    /// </summary>
    private async Task BuildMultiPlatformLayoutAsync(CancellationToken cancellationToken)
    {
        string layout = MultiPlatformLayout;
        Directory.CreateDirectory(Path.Combine(layout, "blobs", "sha256"));
        await File.WriteAllTextAsync(Path.Combine(layout, "oci-layout"), """{"imageLayoutVersion":"1.0.0"}""", cancellationToken);
        var amd64 = await CopyImageAsync(Images.UmociMulti, layout, null, cancellationToken);
        var arm64 = await CopyImageAsync(Images.BuildahOpaque, layout, "arm64", cancellationToken);
        var index = new JsonObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = "application/vnd.oci.image.index.v1+json",
            ["manifests"] = new JsonArray(Platformed(amd64, "amd64"), Platformed(arm64, "arm64")),
        };
        var indexDescriptor = await WriteBlobAsync(layout, "application/vnd.oci.image.index.v1+json", JsonSerializer.SerializeToUtf8Bytes(index), cancellationToken);
        indexDescriptor["annotations"] = new JsonObject { ["org.opencontainers.image.ref.name"] = RealImages.Tag };
        var top = new JsonObject { ["schemaVersion"] = 2, ["manifests"] = new JsonArray(indexDescriptor) };
        await File.WriteAllBytesAsync(Path.Combine(layout, "index.json"), JsonSerializer.SerializeToUtf8Bytes(top), cancellationToken);

        // The arm64 image alone, as an OCI layout, to export the same image from disk.
        Directory.CreateDirectory(Path.Combine(Arm64Layout, "blobs", "sha256"));
        await File.WriteAllTextAsync(Path.Combine(Arm64Layout, "oci-layout"), """{"imageLayoutVersion":"1.0.0"}""", cancellationToken);
        var alone = await CopyImageAsync(Images.BuildahOpaque, Arm64Layout, "arm64", cancellationToken);
        alone["annotations"] = new JsonObject { ["org.opencontainers.image.ref.name"] = RealImages.Tag };
        await File.WriteAllBytesAsync(Path.Combine(Arm64Layout, "index.json"), JsonSerializer.SerializeToUtf8Bytes(new JsonObject { ["schemaVersion"] = 2, ["manifests"] = new JsonArray(alone) }), cancellationToken);
    }

    private static JsonObject Platformed(JsonObject descriptor, string architecture)
    {
        descriptor["platform"] = new JsonObject { ["os"] = "linux", ["architecture"] = architecture };
        return descriptor;
    }

    /// <summary>Copies a tagged image's blobs into <paramref name="target"/>, optionally rewriting the config's architecture; returns the manifest's descriptor.</summary>
    private static async Task<JsonObject> CopyImageAsync(string source, string target, string? architecture, CancellationToken cancellationToken)
    {
        var manifest = await RealImagesLayout.ReadManifestAsync(source, RealImages.Tag, cancellationToken);
        foreach (var layer in manifest.Layers)
        {
            File.Copy(RealImagesLayout.BlobPath(source, layer), RealImagesLayout.BlobPath(target, layer), overwrite: true);
        }
        var config = JsonNode.Parse(await File.ReadAllBytesAsync(RealImagesLayout.BlobPath(source, manifest.Config), cancellationToken))!.AsObject();
        if (architecture is not null)
        {
            config["architecture"] = architecture;
        }
        var configDescriptor = await WriteBlobAsync(target, manifest.Config.MediaType, JsonSerializer.SerializeToUtf8Bytes(config), cancellationToken);
        var manifestJson = new JsonObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = "application/vnd.oci.image.manifest.v1+json",
            ["config"] = configDescriptor,
            ["layers"] = new JsonArray([.. manifest.Layers.Select(l => (JsonNode)new JsonObject { ["mediaType"] = l.MediaType, ["digest"] = l.Digest, ["size"] = l.Size })]),
        };
        return await WriteBlobAsync(target, "application/vnd.oci.image.manifest.v1+json", JsonSerializer.SerializeToUtf8Bytes(manifestJson), cancellationToken);
    }

    private static async Task<JsonObject> WriteBlobAsync(string layout, string mediaType, byte[] bytes, CancellationToken cancellationToken)
    {
        string digest = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(bytes));
        await File.WriteAllBytesAsync(Path.Combine(layout, "blobs", "sha256", digest[7..]), bytes, cancellationToken);
        return new JsonObject { ["mediaType"] = mediaType, ["digest"] = digest, ["size"] = bytes.Length };
    }

    public async Task DisposeAsync()
    {
        foreach (var server in new[] { Anonymous, Basic, Token })
        {
            if (server is not null)
            {
                await server.DisposeAsync();
            }
        }
        if (Issuer is not null)
        {
            await Issuer.DisposeAsync();
        }
        await Images.DisposeAsync();
    }
}

/// <summary>The xunit collection whose tests share one <see cref="RegistryFixture"/>.</summary>
[CollectionDefinition(Name)]
public sealed class UsesRegistries : ICollectionFixture<RegistryFixture>
{
    public const string Name = "Registries";
}
