using Decant.Export;
using Decant.Model;
using Decant.Semantics;
using Decant.Tests.Support;
using Decant.Tree;
using Decant.Writers;
using Decant.Writers.Ext4;

namespace Decant.Tests.Hostile;

/// <summary>
/// Depth is hostile input too: nothing may recurse over the depth of a tree or a path (a
/// 450 000-deep chain once overflowed the stack in the error message's path and in the ext4
/// writer), and a tree deeper than <see cref="LayerApplier.MaxDepth"/> is refused with a clear
/// error instead of costing the square of its depth in every writer. Each case runs in every output.
/// </summary>
public class DeepTreeTests
{
    public static TheoryData<OutputFormat> AllFormats() => [.. Formats.All];

    /// <summary>A layer of directories <c>d</c>, <c>d/d</c>, … nested <paramref name="depth"/> deep, and the deepest path.</summary>
    private static (LayerTar Layer, string Deepest) Chain(int depth)
    {
        var layer = new LayerTar();
        string path = "";
        for (int i = 0; i < depth; i++)
        {
            path = path.Length == 0 ? "d" : path + "/d";
            layer.Dir(path);
        }
        return (layer, path);
    }

    [Theory]
    [MemberData(nameof(AllFormats))]
    public async Task TreeAtTheDepthLimitIsWritten(OutputFormat format)
    {
        var (layer, deepest) = Chain(LayerApplier.MaxDepth - 1);
        layer.File(deepest + "/leaf", "bottom");
        using var scratch = new ScratchDirectory();
        string output = Output(scratch, format);

        var result = await ImageExporter.ExportAsync(SyntheticImage.WriteLayout(scratch.Combine("image"), [layer.ToArray()]), Options(output, format));

        Assert.Equal(1, result.Summary.Files);
        Assert.Equal(LayerApplier.MaxDepth - 1, result.Summary.Directories);
    }

    [Theory]
    [MemberData(nameof(AllFormats))]
    public async Task TreeDeeperThanTheLimitIsRefused(OutputFormat format)
    {
        var (layer, deepest) = Chain(LayerApplier.MaxDepth);
        layer.File(deepest + "/too-deep", "x");

        var error = await ExportFailureAsync([layer], format);

        Assert.Equal(DecantErrorKind.LimitExceeded, error.Kind);
        Assert.Contains($"deeper than {LayerApplier.MaxDepth} levels", error.Describe(), StringComparison.Ordinal);
        Assert.True(error.Describe().Length < 1000, "the message abbreviates the path");
    }

    [Theory]
    [MemberData(nameof(AllFormats))]
    public async Task SelfLoopingSymlinkAtTheBottomOfADeepChainIsAnError(OutputFormat format)
    {
        var (layer, deepest) = Chain(LayerApplier.MaxDepth - 10);
        layer.Symlink(deepest + "/loop", "loop");
        var write = new LayerTar().File(deepest + "/loop/x", "through the loop");

        var error = await ExportFailureAsync([layer, write], format);

        Assert.Equal(DecantErrorKind.UnsafeLayer, error.Kind);
        Assert.Contains("too many levels of symbolic links", error.Describe(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Ext4WriterWalksATreeFarDeeperThanTheStackIteratively()
    {
        // Past the layer limit only a host-built tree can go; the writer must not recurse over it.
        const int Depth = 200_000;
        var builder = new TreeBuilder();
        var node = builder.Build().Root;
        for (int i = 0; i < Depth; i++)
        {
            node = builder.Add(node, "d", new Inode { Kind = NodeKind.Directory, Mode = 0b111_101_101 });
        }
        builder.Add(node, "bottom", new Inode { Kind = NodeKind.Fifo, Mode = 0b110_100_100 });
        using var scratch = new ScratchDirectory();
        string image = scratch.Combine("deep.ext4");
        await using (var writer = Ext4Writer.Create(new Ext4WriterOptions { Output = image, Seed = [7] }))
        {
            var summary = await writer.CommitAsync(builder.Build(), CancellationToken.None);
            Assert.Equal(Depth, summary.Directories);
        }
        await Writers.Ext4.Ext4Images.AssertCleanAsync(image);
    }

    [Fact]
    public void NodePathsOfADeepTreeAreBuiltWithoutRecursion()
    {
        var builder = new TreeBuilder();
        var node = builder.Build().Root;
        for (int i = 0; i < 450_000; i++)
        {
            node = builder.Add(node, "a", new Inode { Kind = NodeKind.Directory });
        }
        Assert.Equal(450_000, node.Depth);
        Assert.Equal(450_000 * 2 - 1, node.Path.Length);
    }

    private static async Task<DecantException> ExportFailureAsync(LayerTar[] layers, OutputFormat format)
    {
        using var scratch = new ScratchDirectory();
        string output = Output(scratch, format);
        string reference = SyntheticImage.WriteLayout(scratch.Combine("image"), layers.Select(l => l.ToArray()));
        var error = await Assert.ThrowsAsync<DecantException>(() => ImageExporter.ExportAsync(reference, Options(output, format)));
        Assert.Equal(["image"], Directory.GetFileSystemEntries(scratch.Path).Select(Path.GetFileName));
        return error;
    }

    private static string Output(ScratchDirectory scratch, OutputFormat format) =>
        scratch.Combine(Formats.OutputName(format));

    private static ExportOptions Options(string output, OutputFormat format) => new() { Output = output, Format = format };
}
