using Decant.Export;
using Decant.Interop;
using Decant.Model;
using Decant.Tests.Support;
using Decant.Writers;

namespace Decant.Tests.Sources;

/// <summary>
/// A layout whose blob, manifest or index.json is a FIFO, a directory or a symlink, and archives
/// that are not regular files: each is refused at once as an invalid image naming the path
/// (a FIFO used to block forever in open()), and the export leaves nothing behind.
/// </summary>
public class NonRegularFileTests
{
    public enum Replacement
    {
        Fifo,
        Directory,
        Symlink,
    }

    public enum Which
    {
        Layer,
        Manifest,
        Config,
        IndexJson,
    }

    public static TheoryData<Which, Replacement> LayoutCases()
    {
        var data = new TheoryData<Which, Replacement>();
        foreach (var which in Enum.GetValues<Which>())
        {
            foreach (var replacement in Enum.GetValues<Replacement>())
            {
                data.Add(which, replacement);
            }
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(LayoutCases))]
    public async Task LayoutFileThatIsNotARegularFileIsRefused(Which which, Replacement replacement)
    {
        using var scratch = new ScratchDirectory();
        string layout = scratch.Combine("image");
        string reference = SyntheticImage.WriteLayout(layout, [new LayerTar().File("f", "x").ToArray()]);
        string victim = which == Which.IndexJson ? Path.Combine(layout, "index.json") : BlobOf(layout, which);
        Replace(victim, replacement, scratch.Combine("elsewhere"));
        string output = scratch.Combine("out", "rootfs");
        Directory.CreateDirectory(scratch.Combine("out"));

        var export = ImageExporter.ExportAsync(reference, new ExportOptions { Output = output, Format = OutputFormat.Directory });
        // A bound on a hang, not a performance measure: a FIFO used to block in open() for ever.
        var error = await Assert.ThrowsAsync<DecantException>(() => export.WaitAsync(TimeSpan.FromSeconds(60)));

        Assert.Equal(DecantErrorKind.InvalidManifest, error.Kind);
        string expectedType = replacement switch
        {
            Replacement.Fifo => "FIFO",
            Replacement.Directory => "directory",
            _ => "symbolic link",
        };
        Assert.Contains($"{victim} is a {expectedType}, not a regular file", error.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFileSystemEntries(scratch.Combine("out")));
    }

    [Theory]
    [InlineData("oci-archive", Replacement.Fifo)]
    [InlineData("oci-archive", Replacement.Directory)]
    [InlineData("docker-archive", Replacement.Fifo)]
    [InlineData("docker-archive", Replacement.Directory)]
    public async Task ArchiveThatIsNotARegularFileIsRefused(string transport, Replacement replacement)
    {
        using var scratch = new ScratchDirectory();
        string archive = scratch.Combine("image.tar");
        Replace(archive, replacement, scratch.Combine("elsewhere"));

        var export = ImageExporter.ExportAsync($"{transport}:{archive}", new ExportOptions { Output = scratch.Combine("rootfs"), Format = OutputFormat.Directory });
        var error = await Assert.ThrowsAsync<DecantException>(() => export.WaitAsync(TimeSpan.FromSeconds(60)));

        Assert.Equal(DecantErrorKind.InvalidManifest, error.Kind);
        Assert.Contains($"\"{archive}\" is a {(replacement == Replacement.Fifo ? "FIFO" : "directory")}, not a regular file", error.Message, StringComparison.Ordinal);
        Assert.False(Path.Exists(scratch.Combine("rootfs")));
    }

    /// <summary>The blob path of the image's layer, manifest or config, found through index.json and the manifest.</summary>
    private static string BlobOf(string layout, Which which)
    {
        using var index = System.Text.Json.JsonDocument.Parse(File.ReadAllBytes(Path.Combine(layout, "index.json")));
        string manifestDigest = index.RootElement.GetProperty("manifests")[0].GetProperty("digest").GetString()!;
        if (which == Which.Manifest)
        {
            return SyntheticImage.BlobPath(layout, manifestDigest);
        }
        using var manifest = System.Text.Json.JsonDocument.Parse(File.ReadAllBytes(SyntheticImage.BlobPath(layout, manifestDigest)));
        var descriptor = which == Which.Config ? manifest.RootElement.GetProperty("config") : manifest.RootElement.GetProperty("layers")[0];
        return SyntheticImage.BlobPath(layout, descriptor.GetProperty("digest").GetString()!);
    }

    /// <summary>Puts a FIFO, a directory, or a symlink to a copy of the file (kept at <paramref name="elsewhere"/>) in place of <paramref name="path"/>.</summary>
    private static void Replace(string path, Replacement replacement, string elsewhere)
    {
        if (replacement == Replacement.Symlink)
        {
            File.Move(path, elsewhere);
            File.CreateSymbolicLink(path, elsewhere);
            return;
        }
        File.Delete(path);
        if (replacement == Replacement.Directory)
        {
            Directory.CreateDirectory(path);
            return;
        }
        Assert.Equal(0, LibC.MknodAt(SafeFdHandle.CurrentDirectory, path, LibC.S_IFIFO | 0x1A4, 0));
    }
}
