using Decant.Export;
using Decant.Tests.Conformance;
using Decant.Tests.Support;
using Decant.Tests.Writers.Ext4;
using Decant.Writers;

namespace Decant.Tests.Export;

/// <summary>
/// An image of thousands of layers comes out right in every output, with a progress report that
/// ends with every layer done. (How long it takes is measured by bench/many-layers-vs-umoci.sh,
/// not here.)
/// </summary>
public class ManyLayersTests
{
    private const int LayerCount = 3001;

    /// <summary>Even layers add f = "a" and d/; odd ones white f out and add g = "b". The last is even.</summary>
    private static IEnumerable<byte[]> Layers()
    {
        byte[] add = new LayerTar().Dir("d").File("f", "a").ToArray();
        byte[] remove = new LayerTar().Whiteout("f").File("g", "b").ToArray();
        return Enumerable.Range(0, LayerCount).Select(i => i % 2 == 0 ? add : remove);
    }

    private sealed class LastProgress : IProgress<ExportProgress>
    {
        private readonly Lock _gate = new();

        public ExportProgress? LastWithLayers { get; private set; }

        public void Report(ExportProgress value)
        {
            lock (_gate)
            {
                if (value.Layers.Count > 0)
                {
                    LastWithLayers = value;
                }
            }
        }
    }

    [Theory]
    [InlineData("dir")]
    [InlineData("tar")]
    [InlineData("ext4")]
    public async Task ThousandsOfLayersApplyInOrder(string formatName)
    {
        var format = OutputFormat.FromName(formatName)!;
        using var scratch = new ScratchDirectory();
        string reference = SyntheticImage.WriteLayout(scratch.Combine("image"), Layers());
        string output = scratch.Combine(Formats.OutputName(format));
        var progress = new LastProgress();

        var result = await ImageExporter.ExportAsync(reference, new ExportOptions { Output = output, Format = format }, progress);

        Assert.Equal(LayerCount, result.Image.Layers.Count);
        var last = progress.LastWithLayers!;
        Assert.Equal(LayerCount, last.Layers.Count);
        Assert.Equal(LayerCount, last.LayersDone);
        string[] expected = ["d d 0755", "f f 0644 =a", "f g 0644 =b"];
        if (format == OutputFormat.Ext4)
        {
            await Ext4Images.AssertCleanAsync(output);
            Assert.Equal("a", await Ext4Images.DebugFsAsync(output, "cat /f"));
            Assert.Equal("b", await Ext4Images.DebugFsAsync(output, "cat /g"));
            Assert.Contains("d", (await Ext4Images.DebugFsAsync(output, "ls -p /")).Split('/'));
            return;
        }
        var actual = format == OutputFormat.Tar ? RootfsListing.FromTar(output) : RootfsListing.FromDirectory(output);
        Assert.Equal(expected, actual);
    }
}
