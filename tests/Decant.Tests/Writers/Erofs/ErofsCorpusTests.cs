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
    [InlineData("umoci-multi", ErofsCompression.None)]
    [InlineData("umoci-multi-zstd", ErofsCompression.None)]
    [InlineData("buildah-opaque", ErofsCompression.None)]
    [InlineData("sample", ErofsCompression.None)]
    [InlineData("umoci-multi", ErofsCompression.Lz4HC)]
    [InlineData("umoci-multi-zstd", ErofsCompression.Lz4HC)]
    [InlineData("buildah-opaque", ErofsCompression.Lz4HC)]
    [InlineData("sample", ErofsCompression.Lz4HC)]
    [InlineData("sample", ErofsCompression.Lz4)]
    public async Task ErofsImageOfEveryCorpusImagePassesFsckAndEqualsTheDirectoryExport(string image, ErofsCompression compression)
    {
        string reference = $"oci:{Layout(image)}:{RealImages.Tag}";
        string scratch = Images.NewScratchDirectory($"erofs-{image}-{compression}");
        string output = Path.Combine(scratch, "image.erofs");
        var summary = (await ImageExporter.ExportAsync(reference, new ExportOptions { Output = output, FormatOptions = new ErofsWriterOptions { Compression = compression } }, cancellationToken: Token)).Summary;
        Assert.True(summary.Files > 0);
        Assert.Equal(0, summary.SkippedXattrs);
        await ErofsImages.AssertCleanAsync(output);

        string directory = Path.Combine(scratch, "rootfs");
        await ImageExporter.ExportAsync(reference, new ExportOptions { Output = directory, Format = OutputFormat.Directory, Ownership = OwnershipMode.Preserve }, cancellationToken: Token);
        await using var mounted = await ErofsImages.MountAsync(output, Path.Combine(scratch, "mnt"));
        await ErofsImages.AssertSameTreeAsync(directory, mounted.Path);
        if (compression != ErofsCompression.None && image == "sample")
        {
            Assert.Contains("Layout: 1", await ErofsImages.DumpAsync(output, "/bin/busybox"), StringComparison.Ordinal);
        }
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

    /// <summary>
    /// The size the issue bounds: Decant's lz4hc image of the sample is at most 5% larger than
    /// <c>mkfs.erofs -zlz4hc</c>'s (erofs-utils 1.5, its default 4 KiB clusters) of the same tree.
    /// </summary>
    [Fact]
    public async Task Lz4hcImageOfTheSampleIsNoMoreThanFivePercentLargerThanMkfsErofs()
    {
        string reference = $"oci:{Images.SampleBusybox}:{RealImages.Tag}";
        string scratch = Images.NewScratchDirectory("erofs-size");
        string ours = Path.Combine(scratch, "decant.erofs");
        await ImageExporter.ExportAsync(reference, new ExportOptions { Output = ours, FormatOptions = new ErofsWriterOptions { Compression = ErofsCompression.Lz4HC } }, cancellationToken: Token);
        string directory = Path.Combine(scratch, "rootfs");
        await ImageExporter.ExportAsync(reference, new ExportOptions { Output = directory, Format = OutputFormat.Directory, Ownership = OwnershipMode.Preserve }, cancellationToken: Token);
        string theirs = Path.Combine(scratch, "mkfs.erofs");
        await Tools.RunCheckedAsync("mkfs.erofs", ["-zlz4hc", theirs, directory], Token);
        long oursBytes = new FileInfo(ours).Length, theirsBytes = new FileInfo(theirs).Length;
        Assert.True(oursBytes <= theirsBytes * 105 / 100, $"Decant's lz4hc image is {oursBytes} bytes, mkfs.erofs -zlz4hc's {theirsBytes}");
    }
}
