using Decant.Export;
using Decant.Tests.Support;
using Decant.Tests.Writers.Ext4;
using Decant.Writers.Ext4;
using Decant.Writers.Verity;

namespace Decant.Tests.Writers.Verity;

/// <summary>
/// Every image of the differential corpus and the sample, exported as ext4 with a dm-verity tree:
/// <c>veritysetup verify</c> accepts the root hash the export returns, <c>e2fsck -fn</c> finds
/// nothing, and a byte flipped in the middle of the filesystem makes verify fail.
/// </summary>
[Collection(UsesRealImages.Name)]
public sealed class Ext4VerityCorpusTests(RealImages images) : RealImagesTest(images)
{
    [Theory]
    [MemberData(nameof(Ext4CorpusTests.CorpusImages), MemberType = typeof(Ext4CorpusTests))]
    public async Task VerifyAcceptsTheExt4ImageOfEveryCorpusImage(string image)
    {
        string output = Path.Combine(Images.NewScratchDirectory("verity-" + image), "image.ext4");
        var options = new ExportOptions { Output = output, FormatOptions = new Ext4WriterOptions { Verity = new VerityOptions() } };
        var verity = (await ImageExporter.ExportAsync($"oci:{Ext4CorpusTests.Layout(Images, image)}:{RealImages.Tag}", options, cancellationToken: Token)).Summary.Verity;
        Assert.NotNull(verity);
        await Veritysetup.AssertVerifiesAsync(output, verity);
        await Ext4Images.AssertCleanAsync(output);

        Ext4VerityTests.FlipByte(output, verity.HashOffset / 2);
        Assert.NotEqual(0, (await Veritysetup.VerifyAsync(output, verity)).ExitCode);
    }
}
