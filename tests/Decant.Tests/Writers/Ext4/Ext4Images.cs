using System.Security.Cryptography;
using Decant.Layers;
using Decant.Semantics;
using Decant.Tests.Support;
using Decant.Tree;
using Decant.Writers;
using Decant.Writers.Directory;
using Decant.Writers.Ext4;

namespace Decant.Tests.Writers.Ext4;

/// <summary>
/// Builds ext4 images (and, for comparison, directory exports) from layer tars through the real
/// layer pipeline, checks them with e2fsck and loop-mounts them read-only. A missing tool or a
/// failed mount fails the test.
/// </summary>
internal static class Ext4Images
{
    private static readonly XattrPolicy Xattrs = new() { KeepTrusted = true };

    /// <summary>Reads <paramref name="layers"/> into <paramref name="writer"/>'s store, applies them in order and commits.</summary>
    public static async Task<WriteSummary> WriteAsync(IRootfsWriter writer, IEnumerable<byte[]> layers, CancellationToken cancellationToken = default)
    {
        var applier = new LayerApplier(writer.Content, Xattrs);
        foreach (byte[] tar in layers)
        {
            string digest = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(tar));
            var index = await LayerIndexer.IndexAsync(digest, new MemoryStream(tar), null, writer.Content, new UnpackBudget(long.MaxValue), TarReaderLimits.Default, cancellationToken);
            await applier.ApplyAsync(index, cancellationToken);
        }
        return await writer.CommitAsync(applier.Tree, cancellationToken);
    }

    public static async Task<WriteSummary> WriteImageAsync(Ext4WriterOptions options, params byte[][] layers)
    {
        await using var writer = Ext4Writer.Create(options);
        return await WriteAsync(writer, layers);
    }

    public static async Task WriteDirectoryAsync(string target, params byte[][] layers)
    {
        await using var writer = await DirectoryWriter.CreateAsync(new DirectoryWriterOptions { Output = target, Ownership = OwnershipMode.Preserve }, CancellationToken.None);
        await WriteAsync(writer, layers);
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
