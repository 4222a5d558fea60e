using Decant.Export;
using Decant.Tests.Support;
using Decant.Tests.Writers.Erofs;
using Decant.Tests.Writers.Ext4;
using Decant.Writers;
using Decant.Writers.Erofs;
using Decant.Writers.Ext4;
using Decant.Writers.Verity;

namespace Decant.Tests.Writers.Verity;

/// <summary>
/// Every image of the differential corpus and the sample, exported as ext4 and as EROFS with a
/// dm-verity tree: <c>veritysetup verify</c> accepts the root hash the export returns, the
/// filesystem's own checker (<c>e2fsck -fn</c>, <c>fsck.erofs</c>) finds nothing with the tree
/// after it, and a byte flipped in the middle of the filesystem makes verify fail.
/// </summary>
[Collection(UsesRealImages.Name)]
public sealed class VerityCorpusTests(RealImages images) : RealImagesTest(images)
{
    public static TheoryData<string, string> CorpusImagesAndDiskFormats()
    {
        var data = new TheoryData<string, string>();
        foreach (string image in Ext4CorpusTests.CorpusImages)
        {
            data.Add(image, "ext4");
            data.Add(image, "erofs");
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(CorpusImagesAndDiskFormats))]
    public async Task VerifyAcceptsTheDiskImageOfEveryCorpusImage(string image, string format)
    {
        string output = Path.Combine(Images.NewScratchDirectory($"verity-{format}-{image}"), "image." + format);
        WriterOptions formatOptions = format == "ext4"
            ? new Ext4WriterOptions { Verity = new VerityOptions() }
            : new ErofsWriterOptions { Verity = new VerityOptions() };
        var options = new ExportOptions { Output = output, FormatOptions = formatOptions };
        var verity = (await ImageExporter.ExportAsync($"oci:{Ext4CorpusTests.Layout(Images, image)}:{RealImages.Tag}", options, cancellationToken: Token)).Summary.Verity;
        Assert.NotNull(verity);
        await Veritysetup.AssertVerifiesAsync(output, verity);
        if (format == "ext4")
        {
            await Ext4Images.AssertCleanAsync(output);
        }
        else
        {
            await ErofsImages.AssertCleanAsync(output);
        }

        Ext4VerityTests.FlipByte(output, verity.HashOffset / 2);
        Assert.NotEqual(0, (await Veritysetup.VerifyAsync(output, verity)).ExitCode);
    }
}
