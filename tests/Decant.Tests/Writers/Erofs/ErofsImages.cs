using Decant.Tests.Support;
using Decant.Tests.Writers.Ext4;
using Decant.Writers;
using Decant.Writers.Erofs;

namespace Decant.Tests.Writers.Erofs;

/// <summary>
/// Builds EROFS images from layer tars through the exporter, checks them with erofs-utils'
/// <c>fsck.erofs</c> (which also reads every file's data back) and mounts them read-only with the
/// kernel's erofs. A missing tool or a failed mount fails the test.
/// </summary>
internal static class ErofsImages
{
    /// <summary>Exports <paramref name="layers"/> (tars, bottom first) as an EROFS image with <paramref name="options"/>, through the library's one pipeline.</summary>
    public static Task<WriteSummary> WriteImageAsync(ErofsWriterOptions options, params byte[][] layers) =>
        Ext4Images.ExportAsync(OutputFormat.Erofs, options, layers);

    /// <summary>
    /// Runs <c>fsck.erofs</c>, with <paramref name="extract"/> as <c>--extract</c> into a scratch
    /// directory (so every file's data is read and checked), and fails unless it exits 0. With
    /// DECANT_EROFS_KEEP set to a directory, the image is first copied there.
    /// </summary>
    public static async Task AssertCleanAsync(string image, bool extract = true)
    {
        if (Environment.GetEnvironmentVariable("DECANT_EROFS_KEEP") is { Length: > 0 } keep)
        {
            File.Copy(image, Path.Combine(keep, Path.GetFileName(image)), overwrite: true);
        }
        using var scratch = new ScratchDirectory();
        string extracted = scratch.Combine("extracted");
        var result = await Tools.RunAsync("fsck.erofs", extract ? ["--extract=" + extracted, image] : [image], CancellationToken.None);
        Assert.True(result.ExitCode == 0, $"fsck.erofs {image} exited with {result.ExitCode}:\n{result.StandardOutput}\n{result.StandardError}");
    }

    /// <summary>What <c>dump.erofs</c> says of one path (its layout, links, sizes) or, with null, of the superblock.</summary>
    public static async Task<string> DumpAsync(string image, string? path = null) =>
        (await Tools.RunCheckedAsync("dump.erofs", path is null ? ["-s", image] : ["--path=" + path, image], CancellationToken.None)).StandardOutput;

    /// <summary>Mounts the image read-only (through a loop device) at a new directory; disposing unmounts it.</summary>
    public static async Task<Ext4Images.Mounted> MountAsync(string image, string mountPoint)
    {
        System.IO.Directory.CreateDirectory(mountPoint);
        await Tools.RunCheckedAsync("mount", ["-t", "erofs", "-o", "loop,ro", image, mountPoint], CancellationToken.None);
        return new Ext4Images.Mounted(mountPoint);
    }

    /// <summary>Compares the mounted image with a directory export of the same layers, every field a <see cref="TreeSnapshot"/> records.</summary>
    public static async Task AssertSameTreeAsync(string directoryExport, string mountPoint) =>
        TreeSnapshotAssert.Equal(await TreeSnapshot.CaptureAsync(directoryExport), await TreeSnapshot.CaptureAsync(mountPoint));
}
