using System.Formats.Tar;
using System.Text;
using Decant.Export;
using Decant.Model;
using Decant.Semantics;
using Decant.Tests.Support;
using Decant.Writers;

namespace Decant.Tests.Conformance;

/// <summary>
/// Rules 7 and 8 and the image-level integrity checks, for both outputs: exact owners, nanosecond
/// times on directories written after their children, the xattr policy, and digests.
/// </summary>
public class MetadataConformanceTests
{
    private static readonly DateTimeOffset Old = new(2001, 2, 3, 4, 5, 6, TimeSpan.Zero);
    private static readonly DateTimeOffset Newer = new(2022, 6, 7, 8, 9, 10, TimeSpan.Zero);

    private static byte[] MetadataLayer() => new LayerTar()
        .Dir("d", mode: 0b111_101_000, uid: 1000, gid: 2000, mtime: Old)
        .File("d/child", "c", uid: 100000, gid: 100001, mtime: Newer,
            xattrs: new() { ["user.note"] = "hello", ["security.selinux"] = "system_u:object_r:etc_t:s0", ["trusted.overlay.x"] = "y" })
        .ToArray();

    [Theory]
    [InlineData("dir")]
    [InlineData("tar")]
    public async Task OwnersTimesAndXattrsFollowThePolicy(string formatName)
    {
        var format = OutputFormat.FromName(formatName)!;
        using var scratch = new ScratchDirectory();
        string reference = SyntheticImage.WriteLayout(scratch.Combine("image"), [MetadataLayer()]);
        string output = scratch.Combine(Formats.OutputName(format));
        await ImageExporter.ExportAsync(reference, new ExportOptions
        {
            Output = output,
            Format = format,
            Ownership = Decant.Writers.OwnershipMode.Preserve,
            Xattrs = new XattrPolicy { KeepTrusted = false },
        });

        var observed = format == OutputFormat.Tar ? FromTar(output) : await FromDirectoryAsync(output);
        var directory = observed["d"];
        var child = observed["d/child"];
        Assert.Equal((1000L, 2000L, Old.ToUnixTimeSeconds(), "0750"), (directory.Uid, directory.Gid, directory.MtimeSeconds, directory.Mode));
        Assert.Equal((100000L, 100001L, Newer.ToUnixTimeSeconds()), (child.Uid, child.Gid, child.MtimeSeconds));
        Assert.Equal(["user.note=hello"], child.Xattrs);
    }

    [Fact]
    public async Task TrustedXattrsAreKeptWhenAskedAsRoot()
    {
        Assert.True(Environment.IsPrivilegedProcess, "this test needs root: the suite runs as root");
        using var scratch = new ScratchDirectory();
        string reference = SyntheticImage.WriteLayout(scratch.Combine("image"), [MetadataLayer()]);
        await ImageExporter.ExportAsync(reference, new ExportOptions { Output = scratch.Combine("rootfs"), Xattrs = new XattrPolicy { KeepTrusted = true } });
        var observed = await FromDirectoryAsync(scratch.Combine("rootfs"));
        Assert.Equal(["trusted.overlay.x=y", "user.note=hello"], observed["d/child"].Xattrs);
    }

    [Fact]
    public async Task DiffIdMismatchIsRefusedAndNothingIsLeft()
    {
        using var scratch = new ScratchDirectory();
        string wrongDiffId = "sha256:" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(new LayerTar().File("b", "b").ToArray()));
        string reference = SyntheticImage.WriteLayout(scratch.Combine("image"), [new LayerTar().File("a", "a").ToArray()], diffIds: [wrongDiffId]);

        var error = await Assert.ThrowsAsync<DecantException>(() => ImageExporter.ExportAsync(reference, new ExportOptions { Output = scratch.Combine("rootfs") }));
        Assert.Equal(DecantErrorKind.DigestMismatch, error.Kind);
        Assert.Contains("diff_id", error.Message, StringComparison.Ordinal);
        Assert.Contains(wrongDiffId, error.Describe(), StringComparison.Ordinal);
        Assert.StartsWith("layer sha256:", error.Describe(), StringComparison.Ordinal);
        Assert.False(Path.Exists(scratch.Combine("rootfs")));
    }

    [Fact]
    public async Task MissingLayerBlobIsNotFoundAndNothingIsLeft()
    {
        using var scratch = new ScratchDirectory();
        string layout = scratch.Combine("image");
        string reference = SyntheticImage.WriteLayout(layout, [new LayerTar().File("a", "a").ToArray(), new LayerTar().File("b", "b").ToArray()]);
        var layer = Directory.GetFiles(Path.Combine(layout, "blobs", "sha256")).First(f => File.ReadAllBytes(f)[0] == 0x1F);
        File.Delete(layer);
        var error = await Assert.ThrowsAsync<DecantException>(() => ImageExporter.ExportAsync(reference, new ExportOptions { Output = scratch.Combine("out.tar") }));
        Assert.Equal(DecantErrorKind.NotFound, error.Kind);
        Assert.Contains(Path.GetFileName(layer), error.Describe(), StringComparison.Ordinal);
        Assert.Equal(["image"], Directory.GetFileSystemEntries(scratch.Path).Select(Path.GetFileName));
    }

    private sealed record Observed(long Uid, long Gid, long MtimeSeconds, string Mode, List<string> Xattrs);

    private static async Task<Dictionary<string, Observed>> FromDirectoryAsync(string root)
    {
        var snapshot = await TreeSnapshot.CaptureAsync(root);
        return snapshot.Entries.Values.Where(e => e.Path != "/").ToDictionary(
            e => e.Path.TrimStart('/'),
            e => new Observed(e.Uid, e.Gid, e.ModificationTime.Seconds, e.OctalMode,
                [.. e.Xattrs.Select(x => x.Key + "=" + Encoding.UTF8.GetString(Convert.FromHexString(x.Value))).Order(StringComparer.Ordinal)]));
    }

    private static Dictionary<string, Observed> FromTar(string path)
    {
        var result = new Dictionary<string, Observed>();
        using var stream = File.OpenRead(path);
        using var reader = new TarReader(stream);
        while (reader.GetNextEntry() is { } entry)
        {
            var xattrs = entry is PaxTarEntry pax
                ? pax.ExtendedAttributes.Where(a => a.Key.StartsWith("SCHILY.xattr.", StringComparison.Ordinal)).Select(a => a.Key["SCHILY.xattr.".Length..] + "=" + a.Value).Order(StringComparer.Ordinal).ToList()
                : [];
            result[entry.Name.TrimEnd('/')] = new Observed(entry.Uid, entry.Gid, entry.ModificationTime.ToUnixTimeSeconds(), Convert.ToString((int)entry.Mode, 8).PadLeft(4, '0'), xattrs);
        }
        return result;
    }
}
