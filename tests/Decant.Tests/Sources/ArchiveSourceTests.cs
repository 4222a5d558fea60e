using System.Formats.Tar;
using System.IO.Compression;
using System.Text;
using Decant.Manifests;
using Decant.Model;
using Decant.References;
using Decant.Sources;
using Decant.Tests.Support;

namespace Decant.Tests.Sources;

[Collection(UmociImagesGroup.Name)]
public class ArchiveSourceTests(UmociImages images)
{
    private static async Task<(IImageSource Source, ResolvedImage Image)> ResolveAsync(string reference)
    {
        var source = await ImageSources.OpenAsync(ImageReference.Parse(reference), CancellationToken.None);
        return (source, await ImageResolver.ResolveAsync(source, null, CancellationToken.None));
    }

    private static async Task<DecantException> OpenFailsAsync(string reference, DecantErrorKind kind)
    {
        var error = await Assert.ThrowsAsync<DecantException>(() => ImageSources.OpenAsync(ImageReference.Parse(reference), CancellationToken.None));
        Assert.Equal(kind, error.Kind);
        return error;
    }

    /// <summary>Every layer read and verified, then decompressed: what the image's filesystem is made of.</summary>
    private static async Task<List<byte[]>> UncompressedLayersAsync(IImageSource source, ResolvedImage image)
    {
        var layers = new List<byte[]>();
        foreach (var layer in image.Layers)
        {
            byte[] blob = await source.ReadVerifiedAsync(layer);
            if (blob is [0x1F, 0x8B, ..])
            {
                using var gunzip = new GZipStream(new MemoryStream(blob), CompressionMode.Decompress);
                using var plain = new MemoryStream();
                await gunzip.CopyToAsync(plain);
                blob = plain.ToArray();
            }
            layers.Add(blob);
        }
        return layers;
    }

    private async Task<(ResolvedImage Image, List<byte[]> Layers)> LayoutImageAsync()
    {
        var (source, image) = await ResolveAsync($"oci:{images.Layout}:t1");
        await using (source)
        {
            return (image, await UncompressedLayersAsync(source, image));
        }
    }

    [Fact]
    public async Task OciArchiveYieldsTheLayoutsImage()
    {
        var (expected, expectedLayers) = await LayoutImageAsync();
        var (source, image) = await ResolveAsync($"oci-archive:{images.OciArchive}:t1");
        await using (source)
        {
            Assert.Equal(expected.ManifestBlob.Bytes, image.ManifestBlob.Bytes);
            Assert.Equal(expected.ConfigBytes, image.ConfigBytes);
            Assert.Equal(expected.Layers, image.Layers);
            Assert.Equal(expectedLayers, await UncompressedLayersAsync(source, image));
        }
    }

    [Theory]
    [InlineData(":" + UmociImages.DockerName)]
    [InlineData(":docker.io/" + UmociImages.DockerName)]
    [InlineData(":@0")]
    [InlineData("")]
    public async Task DockerArchiveYieldsTheSameConfigAndLayerContent(string selector)
    {
        var (expected, expectedLayers) = await LayoutImageAsync();
        var (source, image) = await ResolveAsync($"docker-archive:{images.DockerArchive}{selector}");
        await using (source)
        {
            Assert.Equal(expected.ConfigBytes, image.ConfigBytes);
            Assert.Equal(expected.DiffIds, image.DiffIds);
            Assert.Equal(MediaTypes.OciManifest, image.ManifestBlob.MediaType);
            Assert.All(image.Layers, layer => Assert.Equal(MediaTypes.OciLayer, layer.MediaType));
            Assert.Equal(image.DiffIds, image.Layers.Select(l => l.ParsedDigest));
            Assert.Equal(expectedLayers, await UncompressedLayersAsync(source, image));
        }
    }

    [Fact]
    public async Task DockerArchiveSelectorsThatMatchNothingAreNotFound()
    {
        var error = await OpenFailsAsync($"docker-archive:{images.DockerArchive}:example/other:v1", DecantErrorKind.NotFound);
        Assert.Contains("no image tagged docker.io/example/other:v1; available: @0 (docker.io/example/app:v1)", error.Message, StringComparison.Ordinal);
        error = await OpenFailsAsync($"docker-archive:{images.DockerArchive}:@1", DecantErrorKind.NotFound);
        Assert.Contains("has 1 images, so @1 is out of range", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DockerArchiveFollowsLegacyLayerSymlinks()
    {
        // skopeo stores each layer as <diffid>.tar and links <id>/layer.tar to it; older docker
        // saves list the <id>/layer.tar path in manifest.json. Point manifest.json at the links.
        string legacy = Path.Combine(images.Root, "legacy.docker.tar");
        var links = new Dictionary<string, string>();
        await RewriteArchiveAsync(images.DockerArchive, legacy, entry =>
        {
            if (entry.EntryType == TarEntryType.SymbolicLink)
            {
                links[entry.LinkName.Replace("../", "", StringComparison.Ordinal)] = entry.Name;
            }
            return entry;
        });
        string manifest = await ReadEntryAsync(legacy, "manifest.json");
        Assert.NotEmpty(links);
        foreach (var (target, link) in links)
        {
            manifest = manifest.Replace($"\"{target}\"", $"\"{link}\"", StringComparison.Ordinal);
        }
        Assert.Contains("/layer.tar\"", manifest, StringComparison.Ordinal);
        await RewriteArchiveAsync(legacy, legacy + ".2", entry => entry.Name == "manifest.json" ? Entry(entry.Name, manifest) : entry);

        var (expected, expectedLayers) = await LayoutImageAsync();
        var (source, image) = await ResolveAsync($"docker-archive:{legacy}.2");
        await using (source)
        {
            Assert.Equal(expectedLayers, await UncompressedLayersAsync(source, image));
        }
    }

    [Fact]
    public async Task DockerArchiveLayersStoredUnderBlobsAreNamedByTheirPath()
    {
        // Docker 25+ stores layers as blobs/sha256/<hex>; the path gives the digest.
        string archive = Path.Combine(images.Root, "blobs.docker.tar");
        string manifest = await ReadEntryAsync(images.DockerArchive, "manifest.json");
        await RewriteArchiveAsync(images.DockerArchive, archive, entry =>
        {
            if (entry.EntryType == TarEntryType.RegularFile && entry.Name.EndsWith(".tar", StringComparison.Ordinal))
            {
                string blob = "blobs/sha256/" + entry.Name[..^".tar".Length];
                manifest = manifest.Replace($"\"{entry.Name}\"", $"\"{blob}\"", StringComparison.Ordinal);
                return WithData(blob, ReadAll(entry));
            }
            return entry.Name == "manifest.json" || entry.EntryType == TarEntryType.SymbolicLink ? Entry("unused/" + entry.Name, "") : entry;
        }, extraFactory: () => Entry("manifest.json", manifest));
        Assert.Contains("blobs/sha256/", manifest, StringComparison.Ordinal);

        var (_, expectedLayers) = await LayoutImageAsync();
        var (source, image) = await ResolveAsync($"docker-archive:{archive}");
        await using (source)
        {
            Assert.Equal(expectedLayers, await UncompressedLayersAsync(source, image));
        }
    }

    [Fact]
    public async Task DockerArchiveCompressedLegacyLayerIsHashedAndLabelledGzip()
    {
        string archive = Path.Combine(images.Root, "gzip.docker.tar");
        await RewriteArchiveAsync(images.DockerArchive, archive, entry =>
        {
            if (entry.EntryType != TarEntryType.RegularFile || !entry.Name.EndsWith(".tar", StringComparison.Ordinal))
            {
                return entry;
            }
            using var compressed = new MemoryStream();
            using (var gzip = new GZipStream(compressed, CompressionLevel.Fastest, leaveOpen: true))
            {
                gzip.Write(ReadAll(entry));
            }
            return WithData(entry.Name, compressed.ToArray());
        });

        var (_, expectedLayers) = await LayoutImageAsync();
        var (source, image) = await ResolveAsync($"docker-archive:{archive}");
        await using (source)
        {
            Assert.All(image.Layers, layer => Assert.Equal(MediaTypes.OciLayerGzip, layer.MediaType));
            Assert.DoesNotContain(image.Layers[0].ParsedDigest, image.DiffIds);
            Assert.Equal(expectedLayers, await UncompressedLayersAsync(source, image));
        }
    }

    [Fact]
    public async Task DockerArchiveWithSeveralImagesNeedsASelector()
    {
        string archive = Path.Combine(images.Root, "two.docker.tar");
        string manifest = await ReadEntryAsync(images.DockerArchive, "manifest.json");
        string second = manifest.Trim().TrimStart('[').TrimEnd(']').Replace("docker.io/example/app:v1", "docker.io/example/app:v2", StringComparison.Ordinal);
        string both = manifest.Trim().TrimEnd(']') + "," + second + "]";
        await RewriteArchiveAsync(images.DockerArchive, archive, entry => entry.Name == "manifest.json" ? Entry(entry.Name, both) : entry);

        var error = await OpenFailsAsync($"docker-archive:{archive}", DecantErrorKind.Usage);
        Assert.Contains("holds 2 images", error.Message, StringComparison.Ordinal);
        Assert.Contains("@0 (docker.io/example/app:v1); @1 (docker.io/example/app:v2)", error.Message, StringComparison.Ordinal);
        var (source, _) = await ResolveAsync($"docker-archive:{archive}:example/app:v2");
        await source.DisposeAsync();
    }

    [Fact]
    public async Task OciArchiveMayPrefixEntriesWithDotSlash()
    {
        string archive = Path.Combine(images.Root, "dotslash.oci.tar");
        await ExternalTool.RunAsync("tar", "-C", images.Layout, "-cf", archive, ".");
        using (var check = new TarReader(File.OpenRead(archive)))
        {
            Assert.StartsWith("./", check.GetNextEntry()!.Name, StringComparison.Ordinal);
        }
        var (expected, _) = await LayoutImageAsync();
        var (source, image) = await ResolveAsync($"oci-archive:{archive}:t1");
        await using (source)
        {
            Assert.Equal(expected.ConfigBytes, image.ConfigBytes);
        }
    }

    [Theory]
    [InlineData("../index.json")]
    [InlineData("blobs/../../etc/passwd")]
    [InlineData("/index.json")]
    public async Task ArchiveEntriesThatEscapeAreRejected(string name)
    {
        string archive = Path.Combine(images.Root, $"escape-{Guid.NewGuid():N}.tar");
        await RewriteArchiveAsync(images.OciArchive, archive, entry => entry, extra: Entry(name, "{}"));
        var error = await OpenFailsAsync($"oci-archive:{archive}:t1", DecantErrorKind.InvalidManifest);
        Assert.Contains($"unsafe entry name \"{name}\"", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CompressedArchiveIsRefusedWithAHint()
    {
        string archive = Path.Combine(images.Root, "image.oci.tar.gz");
        await using (var input = File.OpenRead(images.OciArchive))
        await using (var output = new GZipStream(File.Create(archive), CompressionLevel.Fastest))
        {
            await input.CopyToAsync(output);
        }
        var error = await OpenFailsAsync($"oci-archive:{archive}", DecantErrorKind.InvalidManifest);
        Assert.Contains("is gzip-compressed; decompress it", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GarbageIsNotATar()
    {
        string archive = Path.Combine(images.Root, "garbage.tar");
        await File.WriteAllBytesAsync(archive, Encoding.ASCII.GetBytes(new string('x', 2048)));
        var error = await OpenFailsAsync($"docker-archive:{archive}", DecantErrorKind.InvalidManifest);
        Assert.Contains("is not a valid tar archive", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MissingArchiveIsNotFound()
    {
        await OpenFailsAsync("oci-archive:/nonexistent/x.tar", DecantErrorKind.NotFound);
        await OpenFailsAsync("docker-archive:/nonexistent/x.tar", DecantErrorKind.NotFound);
    }

    [Fact]
    public async Task CorruptLayerInDockerArchiveIsADigestMismatch()
    {
        string archive = Path.Combine(images.Root, "corrupt.docker.tar");
        await RewriteArchiveAsync(images.DockerArchive, archive, entry =>
        {
            if (entry.EntryType != TarEntryType.RegularFile || !entry.Name.EndsWith(".tar", StringComparison.Ordinal))
            {
                return entry;
            }
            byte[] bytes = ReadAll(entry);
            bytes[100] ^= 0x01;
            return WithData(entry.Name, bytes);
        });
        var (source, image) = await ResolveAsync($"docker-archive:{archive}");
        await using (source)
        {
            var error = await Assert.ThrowsAsync<DecantException>(() => source.ReadVerifiedAsync(image.Layers[0]));
            Assert.Equal(DecantErrorKind.DigestMismatch, error.Kind);
        }
    }

    private static PaxTarEntry Entry(string name, string content) => WithData(name, Encoding.UTF8.GetBytes(content));

    private static PaxTarEntry WithData(string name, byte[] data) =>
        new(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(data) };

    private static byte[] ReadAll(TarEntry entry)
    {
        using var copy = new MemoryStream();
        entry.DataStream!.CopyTo(copy);
        return copy.ToArray();
    }

    /// <summary>Copies a tar, passing each entry through <paramref name="change"/>, optionally appending one more.</summary>
    private static async Task RewriteArchiveAsync(string from, string to, Func<TarEntry, TarEntry> change, TarEntry? extra = null, Func<TarEntry>? extraFactory = null)
    {
        await using var input = File.OpenRead(from);
        await using var reader = new TarReader(input);
        await using var output = File.Create(to);
        await using var writer = new TarWriter(output, TarEntryFormat.Pax);
        while (await reader.GetNextEntryAsync(copyData: true) is { } entry)
        {
            await writer.WriteEntryAsync(change(entry));
        }
        if ((extra ?? extraFactory?.Invoke()) is { } appended)
        {
            await writer.WriteEntryAsync(appended);
        }
    }

    private static async Task<string> ReadEntryAsync(string archive, string name)
    {
        await using var reader = new TarReader(File.OpenRead(archive));
        while (await reader.GetNextEntryAsync() is { } entry)
        {
            if (entry.Name == name)
            {
                using var text = new StreamReader(entry.DataStream!);
                return await text.ReadToEndAsync();
            }
        }
        throw new InvalidOperationException($"{archive} has no {name}");
    }
}
