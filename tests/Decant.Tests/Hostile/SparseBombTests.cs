using Decant.Export;
using Decant.Model;
using Decant.Tests.Support;
using Decant.Writers;

namespace Decant.Tests.Hostile;

/// <summary>
/// A sparse file whose holes are within the unpacked-bytes limit but far too big to expand: every
/// output skips them at the cost of their count, not their size (the tar output as a GNU sparse
/// entry; see also <see cref="Writers.Tar.SparseTarOutputTests"/>).
/// </summary>
public class SparseBombTests
{
    /// <summary>
    /// Within the limit, a sparse file's holes stay holes at O(1) cost: 15 TiB of hole before 512
    /// bytes of data comes out at once, with the data at the end and almost nothing allocated.
    /// </summary>
    [Theory]
    [InlineData("dir")]
    [InlineData("ext4")]
    public async Task HolesAreSkippedNotExpanded(string formatName)
    {
        var format = OutputFormat.FromName(formatName)!;
        using var scratch = new ScratchDirectory();
        const long Size = 15L << 40;
        string reference = SyntheticImage.WriteLayout(scratch.Combine("image"), [HostileLayerTests.PaxSparse01(Size)]);
        string output = scratch.Combine(Formats.OutputName(format));

        var export = ImageExporter.ExportAsync(reference, new ExportOptions { Output = output, Format = format, MaxUnpackedBytes = 16L << 40 });
        // A bound on a hang, not a performance measure: expanding 15 TiB of zeros takes a quarter of an hour.
        await export.WaitAsync(TimeSpan.FromSeconds(90));

        if (format == OutputFormat.Ext4)
        {
            await Writers.Ext4.Ext4Images.AssertCleanAsync(output);
            string stat = await Writers.Ext4.Ext4Images.DebugFsAsync(output, "stat /bomb");
            Assert.Contains($"Size: {Size}", stat, StringComparison.Ordinal);
            long sectors = long.Parse(System.Text.RegularExpressions.Regex.Match(stat, @"Blockcount: (\d+)").Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            Assert.True(sectors * 512 < 1 << 20, $"{sectors * 512} bytes allocated for 512 bytes of data");
            string bmap = await Writers.Ext4.Ext4Images.DebugFsAsync(output, $"bmap /bomb {(Size / 4096) - 1}");
            long physical = long.Parse(bmap.Trim(), System.Globalization.CultureInfo.InvariantCulture);
            using var image = File.OpenHandle(output);
            byte[] last = new byte[512];
            Assert.Equal(512, RandomAccess.Read(image, last, (physical * 4096) + 4096 - 512));
            Assert.All(last, b => Assert.Equal((byte)'x', b));
            return;
        }
        string file = Path.Combine(output, "bomb");
        Assert.Equal(Size, new FileInfo(file).Length);
        using var handle = File.OpenHandle(file);
        byte[] tail = new byte[512];
        Assert.Equal(512, RandomAccess.Read(handle, tail, Size - 512));
        Assert.All(tail, b => Assert.Equal((byte)'x', b));
        var stat2 = Decant.Interop.Posix.Stat(new Decant.Interop.SafeFdHandle((int)handle.DangerousGetHandle(), ownsHandle: false), file);
        Assert.True(stat2.Blocks * 512 < 1 << 20, $"{stat2.Blocks * 512} bytes allocated for 512 bytes of data");
    }

    /// <summary>15 TiB of hole in the flattened tar: a sparse entry of 512 bytes of data, written at once.</summary>
    [Fact]
    public async Task TheTarOutputWritesHolesAsASparseEntry()
    {
        using var scratch = new ScratchDirectory();
        const long Size = 15L << 40;
        string reference = SyntheticImage.WriteLayout(scratch.Combine("image"), [HostileLayerTests.PaxSparse01(Size)]);
        string output = scratch.Combine("rootfs.tar");

        var export = ImageExporter.ExportAsync(reference, new ExportOptions { Output = output, Format = OutputFormat.Tar, MaxUnpackedBytes = 16L << 40 });
        // A bound on a hang, not a performance measure: writing 15 TiB of zeros would take days.
        await export.WaitAsync(TimeSpan.FromSeconds(90));

        Assert.InRange(new FileInfo(output).Length, 1, 64 << 10);
        var listing = await Tools.RunCheckedAsync("tar", ["--list", "--verbose", "--file", output], CancellationToken.None);
        Assert.Contains($" {Size} ", listing.StandardOutput, StringComparison.Ordinal);
    }
}
