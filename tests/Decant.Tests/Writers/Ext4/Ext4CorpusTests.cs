using Decant.Export;
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
    /// <summary>The corpus images (and the sample) every ext4 test over the corpus runs on.</summary>
    public static TheoryData<string> CorpusImages => ["umoci-multi", "umoci-multi-zstd", "buildah-opaque", "sample"];

    /// <summary>The OCI layout of a <see cref="CorpusImages"/> name.</summary>
    internal static string Layout(RealImages images, string name) => name == "sample" ? images.SampleBusybox : Path.Combine(images.CorpusDirectory, name);

    private string Layout(string name) => Layout(Images, name);

    [Theory]
    [MemberData(nameof(CorpusImages))]
    public async Task ImageOfEveryCorpusImagePassesFsckAndEqualsTheDirectoryExport(string image)
    {
        string reference = $"oci:{Layout(image)}:{RealImages.Tag}";
        string scratch = Images.NewScratchDirectory("ext4-" + image);
        string output = Path.Combine(scratch, "image.ext4");
        var ext4 = new ExportOptions { Output = output, FormatOptions = new Ext4WriterOptions { Seed = System.Text.Encoding.UTF8.GetBytes(image) } };
        var summary = (await ImageExporter.ExportAsync(reference, ext4, cancellationToken: Token)).Summary;
        Assert.True(summary.Files > 0);
        Assert.Equal(0, summary.SkippedXattrs);
        await Ext4Images.AssertCleanAsync(output);

        string directory = Path.Combine(scratch, "rootfs");
        await ImageExporter.ExportAsync(reference, new ExportOptions { Output = directory, Format = OutputFormat.Directory, Ownership = OwnershipMode.Preserve }, cancellationToken: Token);
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
}
