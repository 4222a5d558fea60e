using Decant.Errors;
using Decant.Export;
using Decant.Tests.Support;

namespace Decant.Tests.Hostile;

/// <summary>
/// A sparse file whose holes are within the unpacked-bytes limit but far too big to expand in
/// the time allowed: cancelling the export stops it in every output, and nothing is left behind.
/// (Holes come from no input, so before, nothing noticed the cancellation while they expanded.)
/// </summary>
public class SparseBombTests
{
    [Theory]
    [InlineData(OutputFormat.Directory)]
    [InlineData(OutputFormat.Tar)]
    [InlineData(OutputFormat.Ext4)]
    public async Task CancellingWhileHolesExpandStopsTheExport(OutputFormat format)
    {
        using var scratch = new ScratchDirectory();
        string reference = SyntheticImage.WriteLayout(scratch.Combine("image"), [HostileLayerTests.PaxSparse01(1L << 40)]);
        Directory.CreateDirectory(scratch.Combine("out"));
        string output = scratch.Combine("out", format switch { OutputFormat.Tar => "rootfs.tar", OutputFormat.Ext4 => "rootfs.ext4", _ => "rootfs" });
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(2));

        var export = ImageExporter.ExportAsync(reference, new ExportOptions { Output = output, Format = format, MaxUnpackedBytes = 2L << 40 }, cancellationToken: cancel.Token);
        // A bound on a hang, not a performance measure: expanding 1 TiB of holes takes many minutes.
        var error = await Record.ExceptionAsync(() => export.WaitAsync(TimeSpan.FromSeconds(90)));

        Assert.True(error is OperationCanceledException or DecantException { Kind: DecantErrorKind.Cancelled }, $"expected a cancellation, got {error}");
        Assert.Empty(Directory.GetFileSystemEntries(scratch.Combine("out")));
    }
}
