using System.Text.Json;
using System.Text.Json.Nodes;
using Decant.Manifests;

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
        using var layout = new SyntheticImage(MultiPlatformLayout);
        var amd64 = await CopyImageAsync(Images.UmociMulti, layout, null, cancellationToken);
        var arm64 = await CopyImageAsync(Images.BuildahOpaque, layout, "arm64", cancellationToken);
        layout.Tag(layout.AddIndex((amd64, Linux("amd64")), (arm64, Linux("arm64"))), RealImages.Tag);

        // The arm64 image alone, as an OCI layout, to export the same image from disk.
        using var alone = new SyntheticImage(Arm64Layout);
        alone.Tag(await CopyImageAsync(Images.BuildahOpaque, alone, "arm64", cancellationToken), RealImages.Tag);
    }

    private static Platform Linux(string architecture) => new() { Os = "linux", Architecture = architecture };

    /// <summary>Copies a tagged image's layers into <paramref name="target"/> with its config, optionally rewriting the config's architecture; returns the new manifest's descriptor.</summary>
    private static async Task<Descriptor> CopyImageAsync(string source, SyntheticImage target, string? architecture, CancellationToken cancellationToken)
    {
        var manifest = await RealImagesLayout.ReadManifestAsync(source, RealImages.Tag, cancellationToken);
        var layers = new List<Descriptor>();
        foreach (var layer in manifest.Layers)
        {
            layers.Add(target.AddBlob(await File.ReadAllBytesAsync(RealImagesLayout.BlobPath(source, layer), cancellationToken), layer.MediaType));
        }
        var config = JsonNode.Parse(await File.ReadAllBytesAsync(RealImagesLayout.BlobPath(source, manifest.Config), cancellationToken))!.AsObject();
        if (architecture is not null)
        {
            config["architecture"] = architecture;
        }
        var configDescriptor = target.AddBlob(JsonSerializer.SerializeToUtf8Bytes(config), manifest.Config.MediaType);
        return target.AddManifest(configDescriptor, layers);
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
