using System.Text;
using System.Text.Json;
using Decant.Manifests;
using Decant.Model;
using Decant.References;
using Decant.Sources;
using Decant.Tests.Support;

namespace Decant.Tests.Manifests;

public class ImageResolverTests
{
    private static readonly Platform LinuxArm64 = new() { Os = "linux", Architecture = "arm64", Variant = "v8" };
    private static readonly Platform LinuxAmd64 = new() { Os = "linux", Architecture = "amd64" };

    private static async Task<ResolvedImage> ResolveAsync(string reference, Platform? platform = null)
    {
        await using var source = await ImageSources.OpenAsync(ImageReference.Parse(reference), CancellationToken.None);
        return await ImageResolver.ResolveAsync(source, platform, CancellationToken.None);
    }

    private static async Task<DecantException> FailsAsync(string reference, DecantErrorKind kind, Platform? platform = null)
    {
        var error = await Assert.ThrowsAsync<DecantException>(() => ResolveAsync(reference, platform));
        Assert.Equal(kind, error.Kind);
        return error;
    }

    [Fact]
    public async Task ResolvesASingleManifestWithItsConfigAndLayers()
    {
        using var layout = new SyntheticImage();
        var image = layout.AddImage("linux", "amd64", layerCount: 3);
        layout.Tag(image.Manifest, "v1");

        var resolved = await ResolveAsync(layout.Reference("v1"));

        Assert.Null(resolved.IndexBlob);
        Assert.Equal(image.Manifest.Digest, resolved.ManifestBlob.Descriptor.Digest);
        Assert.Equal(MediaTypes.OciManifest, resolved.ManifestBlob.MediaType);
        Assert.Equal(image.ConfigBytes, resolved.ConfigBytes);
        Assert.Equal(image.Layers, resolved.Layers);
        Assert.Equal(3, resolved.DiffIds.Count);
        for (int i = 0; i < 3; i++)
        {
            // These layers are uncompressed, so each diff_id is the layer blob's own digest.
            Assert.Equal(image.Layers[i].ParsedDigest, resolved.DiffIds[i]);
        }
        Assert.Equal("linux/amd64", resolved.Platform.ToString());
        Assert.Equal(layout.Reference("v1"), resolved.Name);
    }

    private static (SyntheticImage Layout, WrittenImage Amd64, WrittenImage Arm64) MultiPlatform()
    {
        var layout = new SyntheticImage();
        var amd64 = layout.AddImage("linux", "amd64");
        var arm64 = layout.AddImage("linux", "arm64", "v8");
        var index = layout.AddIndex((amd64.Manifest, LinuxAmd64), (arm64.Manifest, LinuxArm64));
        layout.Tag(index, "multi");
        return (layout, amd64, arm64);
    }

    [Fact]
    public async Task PicksTheRequestedPlatformFromAnIndex()
    {
        var (layout, amd64, arm64) = MultiPlatform();
        using (layout)
        {
            var resolved = await ResolveAsync(layout.Reference("multi"), PlatformMatcher.Parse("linux/arm64"));
            Assert.Equal(arm64.Manifest.Digest, resolved.ManifestBlob.Descriptor.Digest);
            Assert.Equal(arm64.ConfigBytes, resolved.ConfigBytes);
            Assert.Equal("linux/arm64/v8", resolved.Platform.ToString());
            Assert.NotNull(resolved.IndexBlob);
            Assert.Equal(MediaTypes.OciIndex, resolved.IndexBlob.MediaType);

            var amd = await ResolveAsync(layout.Reference("multi"), LinuxAmd64);
            Assert.Equal(amd64.Manifest.Digest, amd.ManifestBlob.Descriptor.Digest);
        }
    }

    [Fact]
    public async Task DefaultsToTheHostPlatform()
    {
        var (layout, amd64, arm64) = MultiPlatform();
        using (layout)
        {
            var resolved = await ResolveAsync(layout.Reference("multi"));
            var expected = PlatformMatcher.Host.Architecture == "arm64" ? arm64 : amd64;
            Assert.Equal(expected.Manifest.Digest, resolved.ManifestBlob.Descriptor.Digest);
        }
    }

    [Fact]
    public async Task MissingPlatformNamesTheRequestAndWhatIsAvailable()
    {
        var (layout, _, _) = MultiPlatform();
        using (layout)
        {
            var error = await FailsAsync(layout.Reference("multi"), DecantErrorKind.PlatformNotFound, PlatformMatcher.Parse("linux/riscv64"));
            Assert.Equal($"no manifest for linux/riscv64 in {layout.Reference("multi")}; available: linux/amd64, linux/arm64/v8", error.Message);
        }
    }

    [Fact]
    public async Task ExplicitPlatformMustMatchASinglePlatformImage()
    {
        using var layout = new SyntheticImage();
        layout.Tag(layout.AddImage("linux", "arm64", "v8").Manifest, "arm");
        var error = await FailsAsync(layout.Reference("arm"), DecantErrorKind.PlatformNotFound, LinuxAmd64);
        Assert.Contains("available: linux/arm64/v8", error.Message, StringComparison.Ordinal);
        Assert.Equal("linux/arm64/v8", (await ResolveAsync(layout.Reference("arm"))).Platform.ToString());
    }

    [Fact]
    public async Task FollowsNestedIndexesUpToTheDepthCap()
    {
        using var layout = new SyntheticImage();
        var image = layout.AddImage("linux", "amd64");
        var inner = layout.AddIndex((image.Manifest, LinuxAmd64));
        var outer = layout.AddIndex((inner, LinuxAmd64));
        layout.Tag(outer, "nested");
        Assert.Equal(image.Manifest.Digest, (await ResolveAsync(layout.Reference("nested"), LinuxAmd64)).ManifestBlob.Descriptor.Digest);

        var deepest = inner;
        for (int i = 0; i < ImageResolver.MaxIndexDepth; i++)
        {
            deepest = layout.AddIndex((deepest, LinuxAmd64));
        }
        layout.Tag(deepest, "too-deep");
        var error = await FailsAsync(layout.Reference("too-deep"), DecantErrorKind.InvalidManifest, LinuxAmd64);
        Assert.Contains("nested more than", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DigestReferenceMayNameABlobThatIndexJsonDoesNotList()
    {
        var (layout, _, arm64) = MultiPlatform();
        using (layout)
        {
            var resolved = await ResolveAsync($"oci:{layout.Root}@{arm64.Manifest.Digest}");
            Assert.Equal(arm64.ConfigBytes, resolved.ConfigBytes);
            Assert.Equal(MediaTypes.OciManifest, resolved.ManifestBlob.MediaType);
        }
    }

    [Fact]
    public async Task CorruptManifestIsADigestMismatch()
    {
        using var layout = new SyntheticImage();
        var image = layout.AddTaggedImage("v1");
        layout.Corrupt(image.Manifest);
        var error = await FailsAsync(layout.Reference("v1"), DecantErrorKind.DigestMismatch);
        Assert.Contains($"blob {image.Manifest.Digest}: digest mismatch: expected {image.Manifest.Digest}, computed sha256:", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CorruptConfigIsADigestMismatch()
    {
        using var layout = new SyntheticImage();
        var image = layout.AddTaggedImage("v1");
        layout.Corrupt(image.Config);
        var error = await FailsAsync(layout.Reference("v1"), DecantErrorKind.DigestMismatch);
        Assert.Contains($"config: blob {image.Config.Digest}: digest mismatch", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ManifestOfWrongSizeIsADigestMismatch()
    {
        using var layout = new SyntheticImage();
        var image = layout.AddImage("linux", "amd64");
        layout.Tag(image.Manifest with { Size = image.Manifest.Size - 1 }, "short");
        var error = await FailsAsync(layout.Reference("short"), DecantErrorKind.DigestMismatch);
        Assert.Contains($"expected {image.Manifest.Size - 1} bytes, got at least {image.Manifest.Size}", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task OversizedManifestIsRefusedBeforeReading()
    {
        using var layout = new SyntheticImage();
        byte[] huge = new byte[ImageResolver.MaxDocumentSize + 1];
        huge.AsSpan().Fill((byte)' ');
        "{}"u8.CopyTo(huge);
        var descriptor = layout.AddBlob(huge, MediaTypes.OciManifest);
        layout.Tag(descriptor, "huge");
        var error = await FailsAsync(layout.Reference("huge"), DecantErrorKind.LimitExceeded);
        Assert.Contains(descriptor.Digest, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task OversizedIndexJsonIsRefused()
    {
        using var layout = new SyntheticImage();
        using (var index = File.Create(Path.Combine(layout.Root, "index.json")))
        {
            index.Write("{\"schemaVersion\":2,\"manifests\":[]"u8);
            index.Write(Encoding.ASCII.GetBytes(new string(' ', ImageResolver.MaxDocumentSize)));
            index.Write("}"u8);
        }
        var error = await FailsAsync(layout.Reference(), DecantErrorKind.LimitExceeded);
        Assert.Contains("index.json is larger than the 4 MiB limit", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnknownLayerMediaTypeIsNamed()
    {
        using var layout = new SyntheticImage();
        var image = layout.AddImage("linux", "amd64", layerMediaType: "application/vnd.example.weird+tar");
        layout.Tag(image.Manifest, "v1");
        var error = await FailsAsync(layout.Reference("v1"), DecantErrorKind.InvalidManifest);
        Assert.Contains("layer 0", error.Message, StringComparison.Ordinal);
        Assert.Contains("\"application/vnd.example.weird+tar\", which is not a known layer type", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DiffIdCountMustEqualLayerCount()
    {
        using var layout = new SyntheticImage();
        var image = layout.AddImage("linux", "amd64", layerCount: 2, diffIdCount: 1);
        layout.Tag(image.Manifest, "v1");
        var error = await FailsAsync(layout.Reference("v1"), DecantErrorKind.InvalidManifest);
        Assert.Contains("lists 1 diff_ids for 2 layers", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ManifestWithoutMediaTypeIsRecognizedByStructure()
    {
        using var layout = new SyntheticImage();
        var image = layout.AddImage("linux", "amd64");
        var plain = JsonSerializer.SerializeToUtf8Bytes(new ImageManifest { SchemaVersion = 2, Config = image.Config, Layers = image.Layers }, ManifestJsonContext.Default.ImageManifest);
        Assert.DoesNotContain("mediaType\": \"application/vnd.oci.image.manifest", Encoding.UTF8.GetString(plain), StringComparison.Ordinal);
        var descriptor = layout.AddBlob(plain, "");
        layout.Tag(descriptor, "plain");
        var resolved = await ResolveAsync(layout.Reference("plain"));
        Assert.Equal(MediaTypes.OciManifest, resolved.ManifestBlob.MediaType);
    }

    [Fact]
    public async Task DescriptorThatCallsAManifestAnIndexIsRejected()
    {
        using var layout = new SyntheticImage();
        var image = layout.AddImage("linux", "amd64");
        layout.Tag(image.Manifest with { MediaType = MediaTypes.OciIndex }, "liar");
        var error = await FailsAsync(layout.Reference("liar"), DecantErrorKind.InvalidManifest);
        Assert.Contains("descriptor says", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ArtifactConfigIsNotAnImage()
    {
        using var layout = new SyntheticImage();
        var config = layout.AddBlob("{}"u8.ToArray(), "application/vnd.example.artifact.config+json");
        var manifest = layout.AddBlob(JsonSerializer.SerializeToUtf8Bytes(new ImageManifest { SchemaVersion = 2, MediaType = MediaTypes.OciManifest, Config = config }, ManifestJsonContext.Default.ImageManifest), MediaTypes.OciManifest);
        layout.Tag(manifest, "artifact");
        var error = await FailsAsync(layout.Reference("artifact"), DecantErrorKind.InvalidManifest);
        Assert.Contains("application/vnd.example.artifact.config+json", error.Message, StringComparison.Ordinal);
    }
}
