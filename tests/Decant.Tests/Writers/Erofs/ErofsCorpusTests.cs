using Decant.Export;
using Decant.Tests.Support;
using Decant.Writers;
using Decant.Writers.Erofs;

namespace Decant.Tests.Writers.Erofs;

/// <summary>
/// Every image of the core's differential corpus (umoci, buildah and skopeo made: whiteouts, opaque
/// directories, type changes, hardlinks across layers, setuid files, capabilities, devices, long and
/// non-ASCII names, big owners) and the sample: fsck.erofs accepts the EROFS image and reads every
/// file back, and mounted read-only by Linux it holds the same tree as Decant's directory export.
/// </summary>
[Collection(UsesRealImages.Name)]
public sealed class ErofsCorpusTests(RealImages images) : RealImagesTest(images)
{
    private string Layout(string name) => name == "sample" ? Images.SampleBusybox : Path.Combine(Images.CorpusDirectory, name);

    [Theory]
    [InlineData("umoci-multi")]
    [InlineData("umoci-multi-zstd")]
    [InlineData("buildah-opaque")]
    [InlineData("sample")]
    public async Task ErofsImageOfEveryCorpusImagePassesFsckAndEqualsTheDirectoryExport(string image)
    {
        string reference = $"oci:{Layout(image)}:{RealImages.Tag}";
        string scratch = Images.NewScratchDirectory("erofs-" + image);
        string output = Path.Combine(scratch, "image.erofs");
        var summary = (await ImageExporter.ExportAsync(reference, new ExportOptions { Output = output, FormatOptions = new ErofsWriterOptions() }, cancellationToken: Token)).Summary;
        Assert.True(summary.Files > 0);
        Assert.Equal(0, summary.SkippedXattrs);
        await ErofsImages.AssertCleanAsync(output);

        string directory = Path.Combine(scratch, "rootfs");
        await ImageExporter.ExportAsync(reference, new ExportOptions { Output = directory, Format = OutputFormat.Directory, Ownership = OwnershipMode.Preserve }, cancellationToken: Token);
        await using var mounted = await ErofsImages.MountAsync(output, Path.Combine(scratch, "mnt"));
        await ErofsImages.AssertSameTreeAsync(directory, mounted.Path);
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
}
