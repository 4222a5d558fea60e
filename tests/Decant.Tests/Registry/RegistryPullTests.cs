using Decant.Export;
using Decant.Manifests;
using Decant.Model;
using Decant.References;
using Decant.Sources;
using Decant.Tests.Support;
using Decant.Writers;

namespace Decant.Tests.Registry;

/// <summary>
/// Pulling from a real distribution registry (anonymous) gives exactly the tree the same image
/// gives from its OCI layout: gzip, zstd, uncompressed layers, Docker schema2, a multi-platform index.
/// </summary>
[Collection(UsesRegistries.Name)]
public sealed class RegistryPullTests(RegistryFixture registries) : RegistryTest(registries)
{
    [Theory]
    [InlineData(RegistryFixture.UmociMulti, "umoci-multi")]
    [InlineData(RegistryFixture.UmociMultiZstd, "umoci-multi-zstd")]
    [InlineData(RegistryFixture.BuildahOpaque, "buildah-opaque")]
    [InlineData(RegistryFixture.UmociMultiSchema2, "umoci-multi")]
    public async Task RegistryExportEqualsTheLayoutExport(string repository, string layout)
    {
        var fromLayout = await ExportAsync($"oci:{Path.Combine(Images.CorpusDirectory, layout)}:latest");
        var fromRegistry = await ExportAsync(RegistryFixture.Reference(Registries.Anonymous, repository));
        TreeSnapshotAssert.Equal(fromLayout, fromRegistry);
        Assert.True(fromRegistry.Entries.Count > 10, $"the export of {repository} has only {fromRegistry.Entries.Count} entries");
    }

    [Theory]
    [InlineData(RegistryFixture.UmociMulti, "umoci-multi", Decant.Writers.Erofs.ErofsCompression.None)]
    [InlineData(RegistryFixture.UmociMultiZstd, "umoci-multi-zstd", Decant.Writers.Erofs.ErofsCompression.Lz4HC)]
    [InlineData(RegistryFixture.BuildahOpaque, "buildah-opaque", Decant.Writers.Erofs.ErofsCompression.Lz4HC)]
    [InlineData(RegistryFixture.UmociMultiSchema2, "umoci-multi", Decant.Writers.Erofs.ErofsCompression.Lz4)]
    public async Task RegistryErofsExportPassesFsckAndMountsAsTheLayoutExport(string repository, string layout, Decant.Writers.Erofs.ErofsCompression compression)
    {
        var fromLayout = await ExportAsync($"oci:{Path.Combine(Images.CorpusDirectory, layout)}:latest");
        string image = Path.Combine(Images.NewScratchDirectory("registry-erofs"), "rootfs.erofs");
        await ImageExporter.ExportAsync(RegistryFixture.Reference(Registries.Anonymous, repository),
            new ExportOptions { Output = image, FormatOptions = new Decant.Writers.Erofs.ErofsWriterOptions { Compression = compression } }, cancellationToken: Token);
        await Writers.Erofs.ErofsImages.AssertCleanAsync(image);
        await using var mounted = await Writers.Erofs.ErofsImages.MountAsync(image, Path.Combine(Path.GetDirectoryName(image)!, "mnt"));
        TreeSnapshotAssert.Equal(fromLayout, await TreeSnapshot.CaptureAsync(mounted.Path, cancellationToken: Token));
    }

    [Fact]
    public async Task NamesWithoutTagPullLatestAndBareNamesWork()
    {
        var fromLayout = await ExportAsync($"oci:{Images.BuildahOpaque}:latest");
        string output = NewOutput("untagged");
        await ImageExporter.ExportAsync($"docker://{Registries.Anonymous.Host}/{RegistryFixture.BuildahOpaque}", Options(output), cancellationToken: Token);
        TreeSnapshotAssert.Equal(fromLayout, await TreeSnapshot.CaptureAsync(output, cancellationToken: Token));

        var bare = await RegistryExport.ExportAsync($"{Registries.Anonymous.Host}/{RegistryFixture.BuildahOpaque}", SourceOptions.Default, NewOutput("bare"), null, Token);
        TreeSnapshotAssert.Equal(fromLayout, bare);
    }

    [Theory]
    [InlineData("alpine", "docker://docker.io/library/alpine")]
    [InlineData("alpine:3.20", "docker://docker.io/library/alpine:3.20")]
    [InlineData("localhost:5000/app", "docker://localhost:5000/app")]
    [InlineData("oci:/some/dir:tag", "oci:/some/dir:tag")]
    [InlineData("docker://quay.io/org/app:1", "docker://quay.io/org/app:1")]
    public void BareNamesParseAsRegistryReferences(string text, string canonical) =>
        Assert.Equal(canonical, ImageReference.ParseWithBareNames(text).ToString());

    [Fact]
    public void TextThatIsNeitherIsAUsageError()
    {
        var error = Assert.Throws<DecantException>(() => ImageReference.ParseWithBareNames("Not A Name"));
        Assert.Equal(DecantErrorKind.Usage, error.Kind);
        Assert.Contains("neither TRANSPORT:NAME", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SchemaTwoImageIsServedAsADockerManifest()
    {
        await using var source = await ImageSources.OpenAsync(ImageReference.Parse(RegistryFixture.Reference(Registries.Anonymous, RegistryFixture.UmociMultiSchema2)), CancellationToken.None);
        var image = await ImageResolver.ResolveAsync(source, null, Token);
        Assert.Equal(MediaTypes.DockerManifest, image.ManifestBlob.MediaType);
        Assert.All(image.Layers, layer => Assert.Equal(MediaTypes.DockerLayerGzip, layer.MediaType));
    }

    [Theory]
    [InlineData("amd64")]
    [InlineData("arm64")]
    public async Task MultiPlatformIndexPicksThePlatform(string architecture)
    {
        string layout = architecture == "amd64" ? Images.UmociMulti : Registries.Arm64Layout;
        var platform = new Platform { Os = "linux", Architecture = architecture };
        var fromLayout = await ExportAsync($"oci:{layout}:latest", platform);
        var fromRegistry = await ExportAsync(RegistryFixture.Reference(Registries.Anonymous, RegistryFixture.MultiPlatform), platform);
        TreeSnapshotAssert.Equal(fromLayout, fromRegistry);
    }

    [Fact]
    public async Task PullByDigestVerifiesTheManifestAndTagAtDigestUsesTheDigest()
    {
        await using var byTag = await ImageSources.OpenAsync(ImageReference.Parse(RegistryFixture.Reference(Registries.Anonymous, RegistryFixture.BuildahOpaque)), CancellationToken.None);
        var root = await byTag.ResolveRootAsync(Token);
        Assert.Equal(MediaTypes.OciManifest, root.MediaType);
        var tagged = await ImageResolver.ResolveAsync(byTag, null, Token);
        Assert.Equal(root, tagged.ManifestBlob.Descriptor);
        Assert.True(root.ParsedDigest.Matches(tagged.ManifestBlob.Bytes));

        // Tag that does not exist plus the right digest: the digest wins.
        string byDigest = $"docker://{Registries.Anonymous.Host}/{RegistryFixture.BuildahOpaque}:no-such-tag@{root.Digest}";
        await using var source = await ImageSources.OpenAsync(ImageReference.Parse(byDigest), CancellationToken.None);
        var image = await ImageResolver.ResolveAsync(source, null, Token);
        Assert.Equal(root.Digest, image.ManifestBlob.Descriptor.Digest);
        Assert.Equal(tagged.Layers, image.Layers);
    }

    [Fact]
    public async Task UnknownTagRepositoryAndHostAreOneLineErrors()
    {
        var tag = await Assert.ThrowsAsync<DecantException>(() => ResolveAsync($"docker://{Registries.Anonymous.Host}/{RegistryFixture.UmociMulti}:no-such-tag"));
        Assert.Equal(DecantErrorKind.NotFound, tag.Kind);
        Assert.Contains("manifest unknown", tag.Message, StringComparison.Ordinal);

        var repository = await Assert.ThrowsAsync<DecantException>(() => ResolveAsync($"docker://{Registries.Anonymous.Host}/corpus/no-such-repository:latest"));
        Assert.Equal(DecantErrorKind.NotFound, repository.Kind);
        Assert.Contains("corpus/no-such-repository", repository.Message, StringComparison.Ordinal);

        var host = await Assert.ThrowsAsync<DecantException>(() => ResolveAsync("docker://no-such-host.invalid/library/busybox:latest"));
        Assert.Equal(DecantErrorKind.UnknownHost, host.Kind);
        Assert.Contains("no-such-host.invalid", host.Message, StringComparison.Ordinal);
        foreach (var error in new[] { tag, repository, host })
        {
            Assert.DoesNotContain('\n', error.Message);
        }
    }

    private async Task ResolveAsync(string reference)
    {
        await using var source = await ImageSources.OpenAsync(ImageReference.Parse(reference), CancellationToken.None);
        await ImageResolver.ResolveAsync(source, null, Token);
    }

    private async Task<TreeSnapshot> ExportAsync(string reference, Platform? platform = null)
    {
        string output = Path.Combine(Images.NewScratchDirectory("export"), "rootfs");
        await ImageExporter.ExportAsync(reference, Options(output) with { Platform = platform }, cancellationToken: Token);
        return await TreeSnapshot.CaptureAsync(output, cancellationToken: Token);
    }

    private static ExportOptions Options(string output) => new() { Output = output, Format = OutputFormat.Directory, Ownership = OwnershipMode.Preserve, Jobs = 2 };
}
