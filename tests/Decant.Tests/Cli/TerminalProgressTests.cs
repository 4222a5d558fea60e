using Decant.Cli;
using Decant.Export;
using Spectre.Console;

namespace Decant.Tests.Cli;

/// <summary>The live bars: one line per layer and for the image, fitted to the terminal, and honest about layers that only wait.</summary>
public class TerminalProgressTests
{
    private static ExportProgress Snapshot() => new()
    {
        Stage = ExportStage.Layers,
        TotalBytes = 3L << 30,
        BytesRead = (1L << 30) + (512L << 20),
        BytesPerSecond = 123.4 * (1 << 20),
        Layers =
        [
            new LayerProgress(0, "sha256:" + new string('a', 64), 2L << 30, 1L << 29, LayerState.Downloading),
            new LayerProgress(1, "sha256:" + new string('b', 64), 1L << 29, 1L << 29, LayerState.Read),
            new LayerProgress(2, "sha256:" + new string('c', 64), 1L << 29, 1L << 29, LayerState.Verifying),
        ],
    };

    [Theory]
    [InlineData(70)]
    [InlineData(40)]
    [InlineData(120)]
    [InlineData(20)]
    public void EveryLineFitsTheTerminalWidth(int width)
    {
        foreach (var line in TerminalProgress.Lines(Snapshot(), width))
        {
            int length = line.Label.Length + 1 + line.Bar + line.Tail.Length;
            Assert.True(length < width, $"{length} columns at width {width}: {line}");
        }
    }

    [Fact]
    public void AtSeventyColumnsSpectreDrawsOneLinePerBar()
    {
        var writer = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Out = new AnsiConsoleOutput(writer),
        });
        console.Profile.Width = 70;
        console.Write(TerminalProgress.Render(Snapshot(), 70));
        var lines = writer.ToString().TrimEnd('\n').Split('\n');
        Assert.Equal(4, lines.Length); // the image and three layers, none wrapped
        Assert.All(lines, line => Assert.True(line.TrimEnd().Length < 70, line));
        Assert.Contains("%", lines[0], StringComparison.Ordinal);
    }

    [Fact]
    public void ALayerReadButWaitingForTheOneBelowShowsAsWaiting()
    {
        var lines = TerminalProgress.Lines(Snapshot(), 100);
        Assert.Contains("waiting", lines[2].Label, StringComparison.Ordinal);
        Assert.DoesNotContain(lines, l => l.Label.Contains("applying", StringComparison.Ordinal));
        Assert.Equal("waiting", ProgressReporter.Describe(LayerState.Read));
        Assert.Equal("applying", ProgressReporter.Describe(LayerState.Applying));
    }
}
