using Decant.Export;
using Decant.Tests.Support;
using Decant.Tree;
using Decant.Writers;
using Decant.Writers.Directory;
using Decant.Writers.Ext4;

namespace Decant.Tests.Writers.Ext4;

/// <summary>
/// Builds ext4 images (and, for comparison, directory exports) from layer tars through the
/// exporter, checks them with e2fsck and loop-mounts them read-only. A missing tool or a
/// failed mount fails the test.
/// </summary>
internal static class Ext4Images
{
    /// <summary>Exports <paramref name="layers"/> (tars, bottom first) as an ext4 image with <paramref name="options"/>, through the library's one pipeline.</summary>
    public static Task<WriteSummary> WriteImageAsync(Ext4WriterOptions options, params byte[][] layers) =>
        ExportAsync(OutputFormat.Ext4, options, layers);

    /// <summary>Writes <paramref name="layers"/> as an ext4 image, reading at most <paramref name="jobs"/> layers at once.</summary>
    public static Task<WriteSummary> WriteImageAsync(Ext4WriterOptions options, int jobs, params byte[][] layers) =>
        ExportAsync(OutputFormat.Ext4, options, layers, jobs);

    /// <summary>Exports <paramref name="layers"/> as a directory with exact owners, to compare an image with.</summary>
    public static Task WriteDirectoryAsync(string target, params byte[][] layers) =>
        ExportAsync(OutputFormat.Directory, new DirectoryWriterOptions { Output = target }, layers);

    /// <summary>
    /// Writes the layers as an OCI layout in a scratch directory and exports it with
    /// <see cref="ImageExporter"/> (concurrent reads, the read-ahead window, the format's default
    /// xattr rules), as the CLI does.
    /// </summary>
    internal static async Task<WriteSummary> ExportAsync(OutputFormat format, WriterOptions options, IEnumerable<byte[]> layers, int jobs = ExportOptions.DefaultJobs)
    {
        using var scratch = new ScratchDirectory();
        string reference = SyntheticImage.WriteLayout(scratch.Combine("image"), layers);
        var result = await ImageExporter.ExportAsync(reference, new ExportOptions
        {
            Output = options.Output,
            Force = options.Force,
            Format = format,
            FormatOptions = options,
            Ownership = OwnershipMode.Preserve,
            Jobs = jobs,
        });
        return result.Summary;
    }

    /// <summary>
    /// Runs <c>e2fsck -fn</c> and fails unless it exits 0 (nothing found, nothing to fix). With
    /// DECANT_EXT4_KEEP set to a directory, the image is first copied there for inspection.
    /// </summary>
    public static async Task<string> AssertCleanAsync(string image)
    {
        if (Environment.GetEnvironmentVariable("DECANT_EXT4_KEEP") is { Length: > 0 } keep)
        {
            File.Copy(image, System.IO.Path.Combine(keep, System.IO.Path.GetFileName(image)), overwrite: true);
        }
        var result = await Tools.RunAsync("e2fsck", ["-fn", image], CancellationToken.None);
        Assert.True(result.ExitCode == 0, $"e2fsck -fn {image} exited with {result.ExitCode}:\n{result.StandardOutput}\n{result.StandardError}");
        return result.StandardOutput;
    }

    public static async Task<string> DebugFsAsync(string image, string request) =>
        (await Tools.RunCheckedAsync("debugfs", ["-R", request, image], CancellationToken.None)).StandardOutput;

    /// <summary>Field values of <c>dumpe2fs -h</c>, by name.</summary>
    public static async Task<Dictionary<string, string>> SuperblockAsync(string image)
    {
        var output = (await Tools.RunCheckedAsync("dumpe2fs", ["-h", image], CancellationToken.None)).StandardOutput;
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string line in output.Split('\n'))
        {
            int colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon > 0)
            {
                fields[line[..colon].Trim()] = line[(colon + 1)..].Trim();
            }
        }
        return fields;
    }

    /// <summary>Loop-mounts the image read-only at a new directory; disposing unmounts it.</summary>
    public static async Task<Mounted> MountAsync(string image, string mountPoint)
    {
        System.IO.Directory.CreateDirectory(mountPoint);
        await Tools.RunCheckedAsync("mount", ["-t", "ext4", "-o", "loop,ro", image, mountPoint], CancellationToken.None);
        return new Mounted(mountPoint);
    }

    /// <summary>Compares the mounted image with a directory export of the same layers: everything but lost+found.</summary>
    public static async Task AssertSameTreeAsync(string directoryExport, string mountPoint)
    {
        var expected = await TreeSnapshot.CaptureAsync(directoryExport);
        var actual = await TreeSnapshot.CaptureAsync(mountPoint);
        var options = new SnapshotCompareOptions().Ignore("/lost+found", SnapshotField.All).Ignore("/lost+found/**", SnapshotField.All);
        TreeSnapshotAssert.Equal(expected, actual, options);
    }

    public sealed class Mounted(string path) : IAsyncDisposable
    {
        public string Path { get; } = path;

        public async ValueTask DisposeAsync() => await Tools.RunCheckedAsync("umount", [Path], CancellationToken.None);
    }
}
