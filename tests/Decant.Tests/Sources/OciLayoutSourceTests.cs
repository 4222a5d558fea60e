using System.Formats.Tar;
using System.IO.Compression;
using Decant.Manifests;
using Decant.Model;
using Decant.References;
using Decant.Sources;
using Decant.Tests.Support;

namespace Decant.Tests.Sources;

[Collection(UmociImagesGroup.Name)]
public class OciLayoutSourceTests(UmociImages images)
{
    private static async Task<IImageSource> OpenAsync(string reference) =>
        await ImageSources.OpenAsync(ImageReference.Parse(reference), CancellationToken.None);

    private static async Task<DecantException> OpenFailsAsync(string reference, DecantErrorKind kind)
    {
        var error = await Assert.ThrowsAsync<DecantException>(() => OpenAsync(reference));
        Assert.Equal(kind, error.Kind);
        return error;
    }

    /// <summary>The paths of the files in a (gzip or plain) layer tar.</summary>
    internal static async Task<List<string>> FileNamesAsync(byte[] layer)
    {
        Stream data = new MemoryStream(layer);
        if (layer is [0x1F, 0x8B, ..])
        {
            data = new GZipStream(data, CompressionMode.Decompress);
        }
        var names = new List<string>();
        await using var reader = new TarReader(data);
        while (await reader.GetNextEntryAsync() is { } entry)
        {
            if (entry.EntryType is TarEntryType.RegularFile or TarEntryType.V7RegularFile)
            {
                names.Add(entry.Name.TrimStart('.', '/'));
            }
        }
        return names;
    }

    [Fact]
    public async Task TagSelectsTheAnnotatedManifest()
    {
        await using var source = await OpenAsync($"oci:{images.Layout}:t1");
        var root = await source.ResolveRootAsync(CancellationToken.None);
        Assert.Equal("t1", root.Annotations?["org.opencontainers.image.ref.name"]);

        var resolved = await ImageResolver.ResolveAsync(source, null, CancellationToken.None);
        Assert.Equal(2, resolved.Layers.Count);
        Assert.Equal(MediaTypes.OciLayerGzip, resolved.Layers[0].MediaType);
        Assert.Equal(["etc/greeting"], await FileNamesAsync(await source.ReadVerifiedAsync(resolved.Layers[0])));
        Assert.Equal(["usr/share/doc/note.txt"], await FileNamesAsync(await source.ReadVerifiedAsync(resolved.Layers[1])));
    }

    [Fact]
    public async Task DigestSelectsTheSameImageAsItsTag()
    {
        await using var byTag = await OpenAsync($"oci:{images.Layout}:t2");
        var tagged = await ImageResolver.ResolveAsync(byTag, null, CancellationToken.None);
        await using var byDigest = await OpenAsync($"oci:{images.Layout}@{tagged.ManifestBlob.Descriptor.Digest}");
        var digested = await ImageResolver.ResolveAsync(byDigest, null, CancellationToken.None);
        Assert.Equal(tagged.ManifestBlob.Bytes, digested.ManifestBlob.Bytes);
        Assert.Equal(tagged.ConfigBytes, digested.ConfigBytes);
        Assert.Equal(["t2-only"], await FileNamesAsync(await byDigest.ReadVerifiedAsync(digested.Layers.Single())));
    }

    [Fact]
    public async Task MissingTagListsTheAvailableTags()
    {
        var error = await OpenFailsAsync($"oci:{images.Layout}:nope", DecantErrorKind.NotFound);
        Assert.Equal($"oci:{images.Layout}:nope: no image tagged \"nope\"; available tags: t1, t2", error.Message);
    }

    [Fact]
    public async Task NoTagWithSeveralImagesAsksForOne()
    {
        var error = await OpenFailsAsync($"oci:{images.Layout}", DecantErrorKind.Usage);
        Assert.Contains("holds 2 images", error.Message, StringComparison.Ordinal);
        Assert.Contains("available tags: t1, t2", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task NoTagWithOneImageUsesIt()
    {
        using var layout = new SyntheticImage();
        var image = layout.AddImage("linux", "amd64");
        layout.Tag(image.Manifest, null);
        await using var source = await OpenAsync(layout.Reference());
        Assert.Equal(image.Manifest.Digest, (await source.ResolveRootAsync(CancellationToken.None)).Digest);
    }

    [Fact]
    public async Task UnknownDigestIsNotFound()
    {
        string digest = Digest.Sha256Of("nothing"u8).ToString();
        var error = await OpenFailsAsync($"oci:{images.Layout}@{digest}", DecantErrorKind.NotFound);
        Assert.Contains(digest, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MissingBlobIsNotFoundNamingItsDigest()
    {
        using var layout = new SyntheticImage();
        var layer = layout.AddTaggedImage("v1").Layers[0];
        File.Delete(layout.BlobPath(layer));
        var error = await ReadingFirstLayerFailsAsync(layout, DecantErrorKind.NotFound);
        Assert.Contains($"blob {layer.Digest} is missing", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CorruptLayerIsADigestMismatchWhenRead()
    {
        using var layout = new SyntheticImage();
        var layer = layout.AddTaggedImage("v1").Layers[0];
        layout.Corrupt(layer);
        var error = await ReadingFirstLayerFailsAsync(layout, DecantErrorKind.DigestMismatch);
        Assert.Contains(layer.Digest, error.Message, StringComparison.Ordinal);
    }

    /// <summary>Resolving works (manifest and config are intact) but reading layer 0 fails.</summary>
    private static async Task<DecantException> ReadingFirstLayerFailsAsync(SyntheticImage layout, DecantErrorKind kind)
    {
        await using var source = await OpenAsync(layout.Reference("v1"));
        var resolved = await ImageResolver.ResolveAsync(source, null, CancellationToken.None);
        var error = await Assert.ThrowsAsync<DecantException>(() => source.ReadVerifiedAsync(resolved.Layers[0]));
        Assert.Equal(kind, error.Kind);
        return error;
    }

    [Fact]
    public async Task LayoutVersionIsChecked()
    {
        using var layout = new SyntheticImage();
        File.WriteAllText(Path.Combine(layout.Root, "oci-layout"), """{"imageLayoutVersion":"2.0.0"}""");
        var error = await OpenFailsAsync(layout.Reference(), DecantErrorKind.InvalidManifest);
        Assert.Contains("imageLayoutVersion \"2.0.0\"", error.Message, StringComparison.Ordinal);

        File.Delete(Path.Combine(layout.Root, "oci-layout"));
        error = await OpenFailsAsync(layout.Reference(), DecantErrorKind.NotFound);
        Assert.Contains("is not an OCI image layout: it has no oci-layout", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MissingDirectoryIsNotFound()
    {
        var error = await OpenFailsAsync("oci:/nonexistent/decant-layout:v1", DecantErrorKind.NotFound);
        Assert.Contains("\"/nonexistent/decant-layout\" does not exist", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MalformedIndexJsonIsInvalid()
    {
        using var layout = new SyntheticImage();
        File.WriteAllText(Path.Combine(layout.Root, "index.json"), "{\"schemaVersion\":2,\"manifests\":[");
        var error = await OpenFailsAsync(layout.Reference(), DecantErrorKind.InvalidManifest);
        Assert.Contains("index.json is not valid JSON", error.Message, StringComparison.Ordinal);
    }
}
