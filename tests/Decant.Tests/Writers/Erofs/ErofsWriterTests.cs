using System.Security.Cryptography;
using System.Text;
using Decant.Export;
using Decant.References;
using Decant.Sources;
using Decant.Tests.Support;
using Decant.Tests.Writers.Ext4;
using Decant.Writers;
using Decant.Writers.Erofs;

namespace Decant.Tests.Writers.Erofs;

/// <summary>
/// The EROFS writer against its oracles: <c>fsck.erofs</c> must accept the image and read back every
/// file, and the image mounted read-only by Linux must hold the same tree as Decant's directory export
/// of the same layers (every field a <see cref="TreeSnapshot"/> records: type, mode, owner, size,
/// content hash, link target, xattrs, hardlink groups, mtime with nanoseconds).
/// </summary>
public sealed class ErofsWriterTests : IDisposable
{
    private static readonly DateTimeOffset SubSecond = new(2023, 5, 6, 7, 8, 9, TimeSpan.Zero);
    private readonly ScratchDirectory _scratch = new();

    public void Dispose() => _scratch.Dispose();

    private string Image(string name = "image.erofs") => _scratch.Combine(name);

    /// <summary>Writes both outputs of the layers, checks the image with fsck.erofs and compares the mounted image with the directory.</summary>
    private async Task AssertImageMatchesDirectoryAsync(ErofsWriterOptions options, params byte[][] layers)
    {
        await ErofsImages.WriteImageAsync(options, layers);
        await ErofsImages.AssertCleanAsync(options.Output);
        string directory = _scratch.Combine("dir-" + Path.GetFileName(options.Output));
        await Ext4Images.WriteDirectoryAsync(directory, layers);
        await using var mounted = await ErofsImages.MountAsync(options.Output, _scratch.Combine("mnt-" + Path.GetFileName(options.Output)));
        await ErofsImages.AssertSameTreeAsync(directory, mounted.Path);
    }

    private static byte[] Bytes(int size, int seed)
    {
        byte[] bytes = new byte[size];
        new Random(seed).NextBytes(bytes);
        bytes.AsSpan().Replace((byte)0, (byte)1); // no all-zero block by chance
        return bytes;
    }

    [Fact]
    public async Task SmallTreePassesFsckAndMountsIdenticalToTheDirectoryExport()
    {
        byte[] layer = new LayerTar()
            .Dir("etc")
            .File("etc/hostname", "decant\n")
            .Dir("usr/bin", uid: 1000, gid: 100000)
            .File("usr/bin/tool", new string('x', 10_000), mode: 0b111_101_101, uid: 70000, gid: 5)
            .Symlink("bin", "usr/bin")
            .Hardlink("etc/hostname2", "etc/hostname")
            .Fifo("run-fifo")
            .CharDevice("null", 1, 3)
            .ToArray();
        var summary = await ErofsImages.WriteImageAsync(new ErofsWriterOptions { Output = Image() }, layer);
        Assert.Equal((2, 3, 1, 1, 1, 1), (summary.Files, summary.Directories, summary.Symlinks, summary.Hardlinks, summary.Devices, summary.Fifos));
        await ErofsImages.AssertCleanAsync(Image());
        string directory = _scratch.Combine("dir");
        await Ext4Images.WriteDirectoryAsync(directory, layer);
        await using var mounted = await ErofsImages.MountAsync(Image(), _scratch.Combine("mnt"));
        await ErofsImages.AssertSameTreeAsync(directory, mounted.Path);
    }

    [Theory]
    [InlineData(ErofsCompression.None)]
    [InlineData(ErofsCompression.Lz4)]
    [InlineData(ErofsCompression.Lz4HC)]
    public async Task EveryKindAndEdgeCaseAcrossLayersMatchesTheDirectoryExport(ErofsCompression compression)
    {
        string deep = string.Join('/', Enumerable.Range(0, 40).Select(i => $"level-{i:D2}-{new string('d', 60)}"));
        var lower = new LayerTar()
            .Dir("sizes")
            .Dir("data", mtime: SubSecond.AddTicks(1234567))
            .File("data/removed", "gone in the upper layer")
            .File("data/replaced", "lower")
            .Dir("data/opaque").File("data/opaque/hidden", "hidden")
            .File("data/xattr-inline", "x", xattrs: new() { ["user.small"] = "v", ["user.shared"] = "same", ["trusted.shared"] = "t" })
            .File("data/xattr-shared-1", "1", xattrs: new() { ["user.shared"] = "same", ["trusted.shared"] = "t" })
            .File("data/xattr-shared-2", new string('2', 5000), xattrs: new() { ["user.shared"] = "same", ["user.own"] = "2" })
            .File("data/xattr-many", "m", xattrs: Enumerable.Range(0, 40).ToDictionary(i => $"user.attribute-{i:D3}", i => new string((char)('a' + i % 26), 10 + i % 40)))
            .File("data/xattr-large", new string('l', 3000), xattrs: new() { ["user.large"] = new string('L', 3000), ["user.after"] = "a" })
            .Dir("data/xattr-dir", xattrs: new() { ["trusted.overlay.opaque"] = "y", ["user.empty"] = "" })
            .Symlink("data/link-1", "x")
            .Symlink("data/link-60", new string('t', 60))
            .Symlink("data/link-4095", "/" + new string('v', 4094))
            .File("data/owners", "o", uid: 65536, gid: 4_000_000)
            .File("data/times", "t", mtime: SubSecond.AddTicks(9_999_999))
            .File("data/after-2106", "t", mtime: new DateTimeOffset(2200, 1, 1, 0, 0, 0, TimeSpan.Zero).AddTicks(5))
            .File("data/before-1970", "t", mtime: new DateTimeOffset(1960, 6, 1, 0, 0, 0, TimeSpan.Zero).AddTicks(3))
            .File("data/setuid", "s", mode: 0b100_111_101_101)
            .File("data/no-permissions", "", mode: 0)
            .CharDevice("data/tty", 4, 300)
            .CharDevice("data/big-major", 300, 70000)
            .Fifo("data/fifo")
            .File("data/target", "shared content")
            .File("data/zeros-inside", Encoding.ASCII.GetString(new byte[20000]) + "tail")
            .File("data/all-zero", new byte[65_536])
            .File("data/zero-tail", [.. Bytes(8192, 9), .. new byte[100]])
            .File("data/compressible", string.Concat(Enumerable.Range(0, 20_000).Select(i => $"line {i % 97}\n")))
            .File("data/compressible-tail", new string('c', 3 * 65_536 + 4097))
            .File("data/compressible-with-zero-block", [.. Encoding.ASCII.GetBytes(new string('a', 8192)), .. new byte[4096], .. Encoding.ASCII.GetBytes(new string('b', 8000))])
            .File(deep + "/leaf", "deep");
        foreach (int size in (ReadOnlySpan<int>)[0, 1, 4095, 4096, 4097, 4064, 4065, 8191, 8193, 1_000_000])
        {
            lower.File($"sizes/{size}", Bytes(size, size));
        }
        // Extended inodes (an mtime of their own) have 32 bytes less room inline.
        lower.File("sizes/extended-4032", new string('e', 4032), mtime: SubSecond).File("sizes/extended-4033", new string('e', 4033), mtime: SubSecond);
        for (int i = 0; i < 200; i++)
        {
            lower.Hardlink($"data/link-{i:D3}", "data/target");
        }
        for (int i = 0; i < 3000; i++)
        {
            lower.File($"data/many/entry-{i:D5}-{new string(i % 3 == 0 ? 'ñ' : 'n', i % 50)}", i % 7 == 0 ? $"content {i}" : "");
        }
        var upper = new LayerTar()
            .Whiteout("data/removed")
            .File("data/replaced", "upper")
            .Opaque("data/opaque")
            .File("data/opaque/new", "new")
            .Hardlink("data/upper-link", "data/target")
            .Whiteout("data/many/entry-00001-n");
        await AssertImageMatchesDirectoryAsync(new ErofsWriterOptions { Output = Image(), Compression = compression }, lower.ToArray(), upper.ToArray());

        Assert.Contains("Links: 202", await ErofsImages.DumpAsync(Image(), "/data/target"), StringComparison.Ordinal);
        if (compression != ErofsCompression.None)
        {
            // Text shrinks; random bytes do not, so those files stay as they are (tails inline).
            Assert.Contains("Layout: 1", await ErofsImages.DumpAsync(Image(), "/data/compressible"), StringComparison.Ordinal);
            Assert.Contains("Layout: 1", await ErofsImages.DumpAsync(Image(), "/data/compressible-tail"), StringComparison.Ordinal);
            Assert.Contains("Layout: 2", await ErofsImages.DumpAsync(Image(), "/sizes/1000000"), StringComparison.Ordinal);
            Assert.Contains("Layout: 4", await ErofsImages.DumpAsync(Image(), "/data/zeros-inside"), StringComparison.Ordinal); // mostly holes: stays sparse
            Assert.Contains("Layout: 1", await ErofsImages.DumpAsync(Image(), "/data/compressible-with-zero-block"), StringComparison.Ordinal);
            return;
        }
        // The layouts: inline tails where they fit (compact: 4064 bytes; extended: 4032), plain or chunked otherwise.
        foreach (var (path, layout) in new[]
        {
            ("/sizes/1", 2), ("/sizes/4064", 2), ("/sizes/4065", 0), ("/sizes/4096", 0), ("/sizes/4097", 2), ("/sizes/8193", 2),
            ("/sizes/extended-4032", 2), ("/sizes/extended-4033", 0), ("/data/zeros-inside", 4), ("/data/all-zero", 4), ("/data/zero-tail", 2),
            ("/data/link-1", 2), ("/data/link-4095", 0), ("/data/many", 2), ("/data/compressible-with-zero-block", 4),
        })
        {
            Assert.Contains($"Layout: {layout}", await ErofsImages.DumpAsync(Image(), path), StringComparison.Ordinal);
        }
        Assert.Contains("Inode size: 32", await ErofsImages.DumpAsync(Image(), "/sizes/4064"), StringComparison.Ordinal);
        Assert.Contains("Inode size: 64", await ErofsImages.DumpAsync(Image(), "/data/owners"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task TailsThatCameInAnotherOrderThanTheTreeAreEachPlacedWithTheirFile()
    {
        // Commit reads the tails in the tree's order, a batch at a time, sorted by where they sit
        // in the spool. Here they come shuffled, across two layers, with gaps where the upper layer
        // replaced a file, all-zero tails among them, and more than one batch (256 KiB) of them.
        var random = new Random(11);
        var lower = new LayerTar().Dir("a").Dir("b").Dir("c");
        var upper = new LayerTar();
        foreach (int i in Enumerable.Range(0, 900).OrderBy(_ => random.Next()).ToList())
        {
            string path = $"{"abc"[i % 3]}/file-{i:D4}";
            int size = 4096 * (i % 3) + 1500 + 2500 * (i % 7) / 6;
            lower.File(path, i % 11 == 0 ? [.. Bytes(4096 * (1 + i % 3), i), .. new byte[300 + i]] : Bytes(size, i)); // an all-zero tail, or one of data
            if (i % 5 == 0)
            {
                upper.File(path, Bytes(size / 2 + 1, -i));
            }
        }
        foreach (int i in Enumerable.Range(0, 300).Reverse())
        {
            upper.File($"b/upper-{i:D3}", Bytes(1000 + 10 * i, 5000 + i));
        }
        // Names that sort before "." or between "." and "..": the entries are merged around them.
        foreach (string name in (ReadOnlySpan<string>)[" space", "+plus", "-dash", ".-dot-dash", "..."])
        {
            upper.File("c/" + name, name);
        }
        await AssertImageMatchesDirectoryAsync(new ErofsWriterOptions { Output = Image() }, lower.ToArray(), upper.ToArray());
    }

    [Fact]
    public async Task ManyAndLargeXattrsBeyondWhatTheHostFilesystemHoldsAreReadBackByTheKernel()
    {
        // More and larger than the host's ext4 holds in one inode, so compared with what was written, not with a directory export.
        var many = Enumerable.Range(0, 300).ToDictionary(i => $"user.attribute-{i:D3}", i => new string((char)('a' + i % 26), 10 + i % 40));
        var large = new Dictionary<string, string> { ["user.large"] = new string('L', 60_000), ["user.after"] = "a", ["trusted.big"] = new string('T', 9000) };
        byte[] layer = new LayerTar().Dir("x")
            .File("x/many", "m", xattrs: many).File("x/many-again", "m2", xattrs: many)
            .File("x/large", new string('l', 5000), xattrs: large).File("x/large-again", "", xattrs: large).ToArray();
        await ErofsImages.WriteImageAsync(new ErofsWriterOptions { Output = Image() }, layer);
        await ErofsImages.AssertCleanAsync(Image());
        await using var mounted = await ErofsImages.MountAsync(Image(), _scratch.Combine("mnt"));
        var tree = await TreeSnapshot.CaptureAsync(mounted.Path);
        foreach (var (path, expected) in new[] { ("/x/many", many), ("/x/many-again", many), ("/x/large", large), ("/x/large-again", large) })
        {
            Assert.Equal(expected.ToDictionary(x => x.Key, x => Convert.ToHexStringLower(Encoding.UTF8.GetBytes(x.Value))), tree[path].Xattrs);
        }
        Assert.Equal(new string('l', 5000), await File.ReadAllTextAsync(Path.Combine(mounted.Path, "x/large")));
    }

    [Theory]
    [InlineData(ErofsCompression.None)]
    [InlineData(ErofsCompression.Lz4HC)]
    public async Task LayersReadAheadOfTheirTurnGiveTheSameBytesAsOneAtATime(ErofsCompression compression)
    {
        // A layer read while the one below it still is waits in a spool and is filled into the image in its turn.
        byte[] withZeroBlocks = [.. Bytes(10_000, 1), .. new byte[3 * 4096], .. Bytes(70_000, 2)];
        var compressible = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("compressible text ", 20_000)));
        var layers = new List<byte[]>
        {
            new LayerTar().Dir("data").File("data/small", "s").File("data/big", Bytes(3_000_000, 3)).File("data/empty", "").File("data/text", compressible).ToArray(),
            new LayerTar().File("data/zeros", withZeroBlocks).File("data/twice", Bytes(200_000, 4)).File("data/twice", Bytes(50_000, 5))
                .Hardlink("data/link", "data/zeros").File("data/ending-in-zeros", [.. Bytes(5_000, 6), .. new byte[8192]]).ToArray(),
            new LayerTar().Whiteout("data/big").File("data/replaced", Bytes(300_000, 7)).File("data/all-zero", new byte[65_536]).File("data/more-text", compressible).ToArray(),
            new LayerTar().File("data/replaced", "short now").Dir("data/more").File("data/more/tail", Bytes(5_000, 8)).ToArray(),
        };
        await AssertSameBytesAsOneAtATimeAsync(layers, "read-ahead", compression, "ahead.erofs",
            options => ReadAheadExport.ExportAsync(layers, _scratch.Combine("read-ahead-image"), options), "the image differs with a layer read ahead");
    }

    /// <summary>
    /// Exports the layers one at a time, then with two jobs through <paramref name="export"/> into
    /// <paramref name="name"/> (the same seed and compression): the image must pass fsck.erofs, be
    /// the same bytes, and leave no spool behind.
    /// </summary>
    private async Task AssertSameBytesAsOneAtATimeAsync(List<byte[]> layers, string seedText, ErofsCompression compression, string name, Func<ExportOptions, Task> export, string differs)
    {
        byte[] seed = SHA256.HashData(Encoding.ASCII.GetBytes("sha256:" + seedText));
        var oneAtATime = new ErofsWriterOptions { Output = Image("one.erofs"), Seed = seed, Compression = compression };
        await Ext4Images.ExportAsync(OutputFormat.Erofs, oneAtATime, layers, jobs: 1);

        await export(new ExportOptions
        {
            Output = Image(name), Jobs = 2, Ownership = OwnershipMode.Preserve,
            FormatOptions = new ErofsWriterOptions { Seed = seed, Compression = compression },
        });
        await ErofsImages.AssertCleanAsync(Image(name));
        Assert.True(File.ReadAllBytes(oneAtATime.Output).AsSpan().SequenceEqual(File.ReadAllBytes(Image(name))), differs);
        Assert.Empty(System.IO.Directory.GetFiles(Path.GetDirectoryName(Image(name))!, ".decant-spool-*"));
    }


    [Theory]
    [InlineData(ErofsCompression.None)]
    [InlineData(ErofsCompression.Lz4HC)]
    public async Task ALayerWhoseTurnComesWhileItIsReadGivesTheSameBytesAsOneAtATime(ErofsCompression compression)
    {
        // The layer above is read ahead into a spool; its turn comes midway through it, and the rest
        // of it goes straight into the image after what was spooled.
        var compressible = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("compressible text ", 5_000)));
        var above = new LayerTar().File("data/early-twice", Bytes(9_000, 20)).File("data/early-twice", Bytes(4_000, 21)).File("data/early-text", compressible);
        for (int i = 0; i < 120; i++)
        {
            above.File($"data/f{i:D3}", Bytes(30_000 + i * 97, 100 + i));
        }
        above.File("data/late-twice", Bytes(70_000, 22)).File("data/late-twice", Bytes(5_000, 23)).File("data/late-text", compressible)
            .File("data/zeros", [.. Bytes(100, 24), .. new byte[5 * 4096], .. Bytes(100, 25)]);
        var layers = new List<byte[]>
        {
            new LayerTar().Dir("data").File("data/base", Bytes(500_000, 26)).File("data/f000", "replaced above").ToArray(),
            above.ToArray(),
        };
        await AssertSameBytesAsOneAtATimeAsync(layers, "turn-midway", compression, "midway.erofs",
            options => ReadAheadExport.ExportWithTurnMidwayAsync(layers, _scratch.Combine("midway-image"), options, pauseAfter: 1_000_000),
            "the image differs when a layer's turn comes while it is read");
    }

    [Theory]
    [InlineData(ErofsCompression.None)]
    [InlineData(ErofsCompression.Lz4HC)]
    public async Task ImagesAreByteIdenticalForTheSameInputAndSeed(ErofsCompression compression)
    {
        byte[] layer = new LayerTar().Dir("a").File("a/one", "1").File("a/two", new string('2', 90_000)).Symlink("a/l", "one")
            .File("a/x", "x", xattrs: new() { ["user.k"] = "v" }).File("a/y", "y", xattrs: new() { ["user.k"] = "v" }).ToArray();
        byte[] seed = SHA256.HashData("sha256:manifest"u8);
        await ErofsImages.WriteImageAsync(new ErofsWriterOptions { Output = Image("first.erofs"), Seed = seed, Compression = compression }, layer);
        await ErofsImages.WriteImageAsync(new ErofsWriterOptions { Output = Image("second.erofs"), Seed = seed, Compression = compression }, layer);
        await ErofsImages.WriteImageAsync(new ErofsWriterOptions { Output = Image("other-seed.erofs"), Seed = [1, 2, 3], Compression = compression }, layer);
        string first = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(Image("first.erofs"))));
        Assert.Equal(first, Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(Image("second.erofs")))));
        Assert.NotEqual(first, Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(Image("other-seed.erofs")))));
        var uuid = DerivedUuid.From([.. "decant erofs uuid\0"u8, .. seed]);
        Assert.Contains(new Guid(uuid, bigEndian: true).ToString(), await ErofsImages.DumpAsync(Image("first.erofs")), StringComparison.Ordinal);
        await ErofsImages.AssertCleanAsync(Image("first.erofs"));
    }

    [Fact]
    public async Task AFailedExportLeavesNothingBehind()
    {
        byte[] layer = new LayerTar().File(new string('n', 256), "too long a name").ToArray();
        string output = _scratch.Combine("out", "image.erofs");
        var error = await Assert.ThrowsAsync<Decant.Model.DecantException>(() => ErofsImages.WriteImageAsync(new ErofsWriterOptions { Output = output }, layer));
        Assert.Contains("EROFS allows 255", error.Message, StringComparison.Ordinal);
        Assert.False(System.IO.Directory.Exists(_scratch.Combine("out")));
    }
}
