using Decant.Export;
using Decant.Layers;
using Decant.Tests.Hostile;
using Decant.Tests.Layers;
using Decant.Tests.Support;
using Decant.Writers;

namespace Decant.Tests.Writers.Tar;

/// <summary>
/// Holes cost their count, not their size, in the flattened tar too: a sparse file comes out as a
/// GNU sparse (PAX 1.0) entry holding only its data, which GNU tar lists under its real name and
/// size and extracts with its holes, and which Decant's own reader reads back as the same file.
/// </summary>
public class SparseTarOutputTests
{
    private const long LogicalSize = 8L << 30;

    [Fact]
    public async Task ASparseFileIsWrittenAsASparseEntryOfItsDataOnly()
    {
        using var scratch = new ScratchDirectory();
        string reference = SyntheticImage.WriteLayout(scratch.Combine("image"), [HostileLayerTests.PaxSparse01(LogicalSize)]);
        string tar = scratch.Combine("out.tar");

        await ImageExporter.ExportAsync(reference, new ExportOptions { Output = tar, Format = OutputFormat.Tar });

        Assert.InRange(new FileInfo(tar).Length, 1, 64 << 10); // 8 GiB of hole, 512 bytes of data

        // GNU tar lists the real name and size, and extracts the file with its holes.
        var listing = await Tools.RunCheckedAsync("tar", ["--list", "--verbose", "--file", tar], CancellationToken.None);
        Assert.Contains($" {LogicalSize} ", listing.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("bomb", listing.StandardOutput, StringComparison.Ordinal);
        Assert.DoesNotContain("GNUSparseFile", listing.StandardOutput, StringComparison.Ordinal);
        string extracted = scratch.Combine("extracted");
        System.IO.Directory.CreateDirectory(extracted);
        await Tools.RunCheckedAsync("tar", ["--extract", "--file", tar, "--directory", extracted], CancellationToken.None);
        string file = Path.Combine(extracted, "bomb");
        Assert.Equal(LogicalSize, new FileInfo(file).Length);
        var allocated = await Tools.RunCheckedAsync("du", ["--block-size=1", file], CancellationToken.None);
        Assert.InRange(long.Parse(allocated.StandardOutput.Split('\t')[0], System.Globalization.CultureInfo.InvariantCulture), 0, 1 << 20);
        using (var stream = File.OpenRead(file))
        {
            var tail = new byte[1024];
            stream.Seek(LogicalSize - tail.Length, SeekOrigin.Begin);
            stream.ReadExactly(tail);
            Assert.All(tail[..512], b => Assert.Equal(0, b));
            Assert.All(tail[512..], b => Assert.Equal((byte)'x', b));
        }

        // Decant's reader takes its own output back: one entry, the real name, the logical size.
        var reader = new LayerTarReader(File.OpenRead(tar));
        var entries = new List<TarHeader>();
        while (await reader.ReadNextAsync(CancellationToken.None) is { } header)
        {
            entries.Add(header);
        }
        var bomb = Assert.Single(entries, e => e.Kind == TarEntryKind.RegularFile);
        Assert.Equal("bomb", bomb.Name);
        Assert.Equal(LogicalSize, bomb.Size);
    }

    [Fact]
    public async Task AFileWithSmallHolesStaysAPlainEntry()
    {
        using var scratch = new ScratchDirectory();
        // 3 MiB with a 600 KiB run of zeros before its last 100 bytes: under the 1 MiB of holes that make a sparse entry.
        byte[] content = new byte[3 << 20];
        content.AsSpan(0, content.Length - 100 - (600 << 10)).Fill((byte)'m');
        content.AsSpan(content.Length - 100).Fill((byte)'z');
        byte[] layer = new TarBlocks().File("plain", content).End().ToArray();
        string reference = SyntheticImage.WriteLayout(scratch.Combine("image"), [layer]);
        string tar = scratch.Combine("out.tar");

        await ImageExporter.ExportAsync(reference, new ExportOptions { Output = tar, Format = OutputFormat.Tar });

        var listing = await Tools.RunCheckedAsync("tar", ["--list", "--verbose", "--file", tar], CancellationToken.None);
        Assert.Contains($" {content.Length} ", listing.StandardOutput, StringComparison.Ordinal);
        Assert.True(new FileInfo(tar).Length > content.Length, "a plain entry carries all its bytes");
        string extracted = scratch.Combine("extracted");
        System.IO.Directory.CreateDirectory(extracted);
        await Tools.RunCheckedAsync("tar", ["--extract", "--file", tar, "--directory", extracted], CancellationToken.None);
        Assert.Equal(content, await File.ReadAllBytesAsync(Path.Combine(extracted, "plain")));
    }
}
