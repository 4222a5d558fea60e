using Decant.Tests.Support;
using Decant.Writers;
using Decant.Writers.Ext4;

namespace Decant.Tests.Writers.Ext4;

/// <summary>
/// Every image of the core's differential corpus (umoci, buildah and skopeo made: whiteouts, opaque
/// directories, type changes, hardlinks across layers, setuid files, capabilities, devices, long and
/// non-ASCII names, big owners) and the sample: e2fsck finds nothing in the ext4 image, and mounted
/// read-only by Linux it holds the same tree as Decant's directory export, field by field.
/// </summary>
[Collection(UsesRealImages.Name)]
public sealed class Ext4CorpusTests(RealImages images) : RealImagesTest(images)
{
    private string Layout(string name) => name == "sample" ? Images.SampleBusybox : Path.Combine(Images.CorpusDirectory, name);

    [Theory]
    [InlineData("umoci-multi")]
    [InlineData("umoci-multi-zstd")]
    [InlineData("buildah-opaque")]
    [InlineData("sample")]
    public async Task ImageOfEveryCorpusImagePassesFsckAndEqualsTheDirectoryExport(string image)
    {
        var layers = await RealImagesLayout.ReadLayersAsync(Layout(image), RealImages.Tag, Token);
        string scratch = Images.NewScratchDirectory("ext4-" + image);
        string output = Path.Combine(scratch, "image.ext4");
        await using (var writer = Ext4Writer.Create(new Ext4WriterOptions { Output = output, Seed = System.Text.Encoding.UTF8.GetBytes(image) }))
        {
            var summary = await WriteLayersAsync(writer, layers);
            Assert.True(summary.Files > 0);
            Assert.Empty(writer.SkippedXattrs);
        }
        await Ext4Images.AssertCleanAsync(output);

        string directory = Path.Combine(scratch, "rootfs");
        await using (var writer = await Decant.Writers.Directory.DirectoryWriter.CreateAsync(
            new Decant.Writers.Directory.DirectoryWriterOptions { Output = directory, Ownership = OwnershipMode.Preserve }, Token))
        {
            await WriteLayersAsync(writer, layers);
        }
        await using var mounted = await Ext4Images.MountAsync(output, Path.Combine(scratch, "mnt"));
        await Ext4Images.AssertSameTreeAsync(directory, mounted.Path);
        if (image.StartsWith("umoci-multi", StringComparison.Ordinal))
        {
            // Guards against a vacuous pass: the mounted image holds the hard cases.
            var mountedTree = await TreeSnapshot.CaptureAsync(mounted.Path, cancellationToken: Token);
            Assert.Contains("security.capability", mountedTree["/data/xattrs/capable"].Xattrs.Keys);
            Assert.Equal(SnapshotEntryType.BlockDevice, mountedTree["/data/special/loop7"].Type);
            Assert.Equal(["/data/hardlinks/second", "/data/hardlinks/third"], mountedTree["/data/hardlinks/second"].HardlinkGroup);
            Assert.Equal((100000L, 100000L), (mountedTree["/data/owners/big100000"].Uid, mountedTree["/data/owners/big100000"].Gid));
        }
    }

    private async Task<WriteSummary> WriteLayersAsync(IRootfsWriter writer, IReadOnlyList<RealImageLayer> layers)
    {
        var blobs = new List<byte[]>();
        foreach (var layer in layers)
        {
            blobs.Add(await File.ReadAllBytesAsync(layer.BlobPath, Token));
        }
        return await Ext4Images.WriteAsync(writer, blobs, Token);
    }
}
