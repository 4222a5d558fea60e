using System.Security.Cryptography;
using System.Text;
using Decant.Export;
using Decant.Model;
using Decant.References;
using Decant.Sources;
using Decant.Tests.Support;
using Decant.Writers;
using Decant.Writers.Ext4;

namespace Decant.Tests.Writers.Ext4;

/// <summary>
/// The ext4 writer against its oracles: <c>e2fsck -fn</c> must find nothing, and the image
/// loop-mounted read-only by Linux must hold the same tree as Decant's directory export of the same
/// layers (every field a <see cref="TreeSnapshot"/> records; only lost+found is left out).
/// </summary>
public sealed class Ext4WriterTests : IDisposable
{
    /// <summary>A version 2 file capability granting cap_net_bind_service (every byte below 0x80, so it survives PAX as UTF-8).</summary>
    private const string Capability = "\u0001\0\0\u0002\0\u0004\0\0\0\0\0\0\0\0\0\0\0\0\0\0";
    private static readonly DateTimeOffset SubSecond = new(2023, 5, 6, 7, 8, 9, TimeSpan.Zero);
    private readonly ScratchDirectory _scratch = new();

    public void Dispose() => _scratch.Dispose();

    private string Image(string name = "image.ext4") => _scratch.Combine(name);

    private static byte[] RandomBytes(Random random, int size)
    {
        byte[] bytes = new byte[size];
        random.NextBytes(bytes);
        return bytes;
    }

    /// <summary>Writes both outputs of the layers, checks the image with e2fsck and compares the mounted image with the directory.</summary>
    private async Task AssertImageMatchesDirectoryAsync(Ext4WriterOptions options, params byte[][] layers)
    {
        await Ext4Images.WriteImageAsync(options, layers);
        await Ext4Images.AssertCleanAsync(options.Output);
        string directory = _scratch.Combine("dir-" + Path.GetFileName(options.Output));
        await Ext4Images.WriteDirectoryAsync(directory, layers);
        await using var mounted = await Ext4Images.MountAsync(options.Output, _scratch.Combine("mnt-" + Path.GetFileName(options.Output)));
        await Ext4Images.AssertSameTreeAsync(directory, mounted.Path);
    }

    [Fact]
    public async Task SmallTreePassesFsckAndMountsIdenticalToTheDirectoryExport()
    {
        byte[] layer = new LayerTar()
            .Dir("etc", mode: 0b111_101_101)
            .File("etc/hostname", "decant\n")
            .File("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n", mode: 0b110_100_100)
            .Dir("usr/bin", uid: 1000, gid: 100000)
            .File("usr/bin/tool", new string('x', 10_000), mode: 0b111_101_101, uid: 70000, gid: 5)
            .Symlink("bin", "usr/bin")
            .Hardlink("etc/hostname2", "etc/hostname")
            .Fifo("run-fifo")
            .CharDevice("null", 1, 3)
            .ToArray();
        var summary = await Ext4Images.WriteImageAsync(new Ext4WriterOptions { Output = Image() }, layer);
        Assert.Equal((3, 3, 1, 1, 1, 1), (summary.Files, summary.Directories, summary.Symlinks, summary.Hardlinks, summary.Devices, summary.Fifos));
        await Ext4Images.AssertCleanAsync(Image());

        string directory = _scratch.Combine("dir");
        await Ext4Images.WriteDirectoryAsync(directory, layer);
        await using var mounted = await Ext4Images.MountAsync(Image(), _scratch.Combine("mnt"));
        await Ext4Images.AssertSameTreeAsync(directory, mounted.Path);
    }

    [Fact]
    public async Task EveryKindAndEdgeCaseAcrossLayersMatchesTheDirectoryExport()
    {
        string deep = string.Join('/', Enumerable.Range(0, 40).Select(i => $"level-{i:D2}-{new string('d', 60)}"));
        var lower = new LayerTar()
            .Dir("data", mtime: SubSecond.AddTicks(1234567))
            .File("data/removed", "gone in the upper layer")
            .File("data/replaced", "lower")
            .Dir("data/opaque").File("data/opaque/hidden", "hidden")
            .File("data/xattr-inline", "x", xattrs: new() { ["user.small"] = "v", ["security.capability"] = Capability })
            .File("data/xattr-overflow", "x", xattrs: Enumerable.Range(0, 12).ToDictionary(i => $"user.attribute-{i:D2}", i => new string((char)('a' + i), 100 + i)))
            .Dir("data/xattr-dir", xattrs: new() { ["trusted.overlay.opaque"] = "y", ["user.empty"] = "" })
            .Symlink("data/link-59", new string('s', 59))
            .Symlink("data/link-60", new string('t', 60))
            .Symlink("data/link-61", new string('u', 61))
            .Symlink("data/link-long", "/" + new string('v', 4000))
            .File("data/owners", "o", uid: 65536, gid: 4_000_000)
            .File("data/times", "t", mtime: SubSecond.AddTicks(9_999_999))
            .File("data/after-2038", "t", mtime: new DateTimeOffset(2100, 1, 1, 0, 0, 0, TimeSpan.Zero).AddTicks(5))
            .File("data/before-1970", "t", mtime: new DateTimeOffset(1960, 6, 1, 0, 0, 0, TimeSpan.Zero))
            .File("data/setuid", "s", mode: 0b100_111_101_101)
            .File("data/sticky-dir-file", "", mode: 0)
            .CharDevice("data/tty", 4, 300)
            .CharDevice("data/big-major", 300, 70000)
            .Fifo("data/fifo")
            .File("data/target", "shared content")
            .File("data/zeros-inside", Encoding.ASCII.GetString(new byte[20000]) + "tail")
            .File(deep + "/leaf", "deep");
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
        await AssertImageMatchesDirectoryAsync(new Ext4WriterOptions { Output = Image() }, lower.ToArray(), upper.ToArray());

        string stat = await Ext4Images.DebugFsAsync(Image(), "stat /data/target");
        Assert.Contains("Links: 202", stat, StringComparison.Ordinal);
        Assert.Contains("Fast link dest: \"" + new string('s', 59) + "\"", await Ext4Images.DebugFsAsync(Image(), "stat /data/link-59"), StringComparison.Ordinal);
        Assert.DoesNotContain("Fast link dest", await Ext4Images.DebugFsAsync(Image(), "stat /data/link-60"), StringComparison.Ordinal);
        Assert.Contains("File ACL: ", await Ext4Images.DebugFsAsync(Image(), "stat /data/xattr-overflow"), StringComparison.Ordinal);
        Assert.Contains("Flags: 0x81000", await Ext4Images.DebugFsAsync(Image(), "stat /data/many"), StringComparison.Ordinal); // htree + extents
    }

    [Fact]
    public async Task LayersReadAheadOfTheirTurnGiveTheSameBytesAsOneAtATime()
    {
        // A layer read while the one below it still is waits in a spool and moves into the image in its turn.
        var random = new Random(7);
        byte[] Bytes(int size) => RandomBytes(random, size);
        byte[] withZeroBlocks = [.. Bytes(10_000), .. new byte[3 * 4096], .. Bytes(70_000)];
        var layers = new List<byte[]>
        {
            new LayerTar().Dir("data").File("data/small", "s").File("data/big", Bytes(3_000_000)).File("data/empty", "").ToArray(),
            new LayerTar().File("data/zeros", withZeroBlocks).File("data/twice", Bytes(200_000)).File("data/twice", Bytes(50_000))
                .Hardlink("data/link", "data/zeros").ToArray(),
            new LayerTar().Whiteout("data/big").File("data/replaced", Bytes(300_000)).File("data/all-zero", new byte[65_536]).ToArray(),
            new LayerTar().File("data/replaced", "short now").Dir("data/more").File("data/more/tail", Bytes(5_000)).ToArray(),
        };
        byte[] seed = SHA256.HashData("sha256:read-ahead"u8);
        var oneAtATime = new Ext4WriterOptions { Output = Image("one.ext4"), Seed = seed };
        await Ext4Images.WriteImageAsync(oneAtATime, 1, [.. layers]);

        var readAhead = new ExportOptions { Output = Image("ahead.ext4"), Jobs = 2, FormatOptions = new Ext4WriterOptions { Seed = seed }, Ownership = OwnershipMode.Preserve };
        await ReadAheadExport.ExportAsync(layers, _scratch.Combine("read-ahead-image"), readAhead);
        await Ext4Images.AssertCleanAsync(Image("ahead.ext4"));
        Assert.True(File.ReadAllBytes(oneAtATime.Output).AsSpan().SequenceEqual(File.ReadAllBytes(Image("ahead.ext4"))), "the image differs with a layer read ahead");
        Assert.Empty(System.IO.Directory.GetFiles(Path.GetDirectoryName(Image("ahead.ext4"))!, ".decant-spool-*"));
    }

    [Fact]
    public async Task ALayerWhoseTurnComesWhileItIsReadGivesTheSameBytesAsOneAtATime()
    {
        // The layer above is read ahead into a spool; its turn comes midway through it, and the rest
        // of it goes straight into the image after what was spooled.
        var random = new Random(11);
        byte[] Bytes(int size) => RandomBytes(random, size);
        var above = new LayerTar().File("data/early-twice", Bytes(9_000)).File("data/early-twice", Bytes(4_000));
        for (int i = 0; i < 120; i++)
        {
            above.File($"data/f{i:D3}", Bytes(30_000 + i * 97));
        }
        above.File("data/late-twice", Bytes(70_000)).File("data/late-twice", Bytes(5_000)).File("data/zeros", [.. Bytes(100), .. new byte[5 * 4096], .. Bytes(100)]);
        var layers = new List<byte[]>
        {
            new LayerTar().Dir("data").File("data/base", Bytes(500_000)).File("data/f000", "replaced above").ToArray(),
            above.ToArray(),
        };
        byte[] seed = SHA256.HashData("sha256:turn-midway"u8);
        var oneAtATime = new Ext4WriterOptions { Output = Image("one.ext4"), Seed = seed };
        await Ext4Images.WriteImageAsync(oneAtATime, 1, [.. layers]);

        var midway = new ExportOptions { Output = Image("midway.ext4"), Jobs = 2, FormatOptions = new Ext4WriterOptions { Seed = seed }, Ownership = OwnershipMode.Preserve };
        await ReadAheadExport.ExportWithTurnMidwayAsync(layers, _scratch.Combine("midway-image"), midway, pauseAfter: 1_000_000);
        await Ext4Images.AssertCleanAsync(Image("midway.ext4"));
        Assert.True(File.ReadAllBytes(oneAtATime.Output).AsSpan().SequenceEqual(File.ReadAllBytes(Image("midway.ext4"))), "the image differs when a layer's turn comes while it is read");
        Assert.Empty(System.IO.Directory.GetFiles(Path.GetDirectoryName(Image("midway.ext4"))!, ".decant-spool-*"));
    }

    [Fact]
    public async Task ImagesAreByteIdenticalForTheSameInputAndSeed()
    {
        byte[] layer = new LayerTar().Dir("a").File("a/one", "1").File("a/two", new string('2', 9000)).Symlink("a/l", "one").ToArray();
        byte[] seed = SHA256.HashData("sha256:manifest"u8);
        await Ext4Images.WriteImageAsync(new Ext4WriterOptions { Output = Image("first.ext4"), Seed = seed }, layer);
        await Ext4Images.WriteImageAsync(new Ext4WriterOptions { Output = Image("second.ext4"), Seed = seed }, layer);
        await Ext4Images.WriteImageAsync(new Ext4WriterOptions { Output = Image("other-seed.ext4"), Seed = [1, 2, 3] }, layer);
        string first = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(Image("first.ext4"))));
        Assert.Equal(first, Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(Image("second.ext4")))));
        Assert.NotEqual(first, Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(Image("other-seed.ext4")))));
        var superblock = await Ext4Images.SuperblockAsync(Image("first.ext4"));
        var (uuid, _) = Ext4Writer.DeriveIdentity(seed);
        Assert.Equal(new Guid(uuid, bigEndian: true).ToString(), superblock["Filesystem UUID"]);
    }

    [Fact]
    public async Task AutomaticSizeKeepsTheRequestedFreeSpaceAndInodes()
    {
        byte[] layer = new LayerTar().File("big", new string('b', 3_000_000)).ToArray();
        await Ext4Images.WriteImageAsync(new Ext4WriterOptions { Output = Image(), FreeSpaceBytes = 10L << 20, FreeInodes = 100, Journal = false }, layer);
        await Ext4Images.AssertCleanAsync(Image());
        var superblock = await Ext4Images.SuperblockAsync(Image());
        long freeBlocks = long.Parse(superblock["Free blocks"], System.Globalization.CultureInfo.InvariantCulture);
        long freeInodes = long.Parse(superblock["Free inodes"], System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(freeBlocks * 4096, 10L << 20, (10L << 20) + (1L << 20));
        Assert.InRange(freeInodes, 100, 100 + 15);
        Assert.DoesNotContain("has_journal", superblock["Filesystem features"], StringComparison.Ordinal);
        Assert.Equal(long.Parse(superblock["Block count"], System.Globalization.CultureInfo.InvariantCulture) * 4096, new FileInfo(Image()).Length);
    }

    [Fact]
    public async Task FixedSizeTooSmallFailsNamingTheSizeNeededWhichThenFitsExactly()
    {
        byte[] layer = new LayerTar().File("big", new string('b', 30_000_000)).Dir("d").File("d/f", "f").ToArray();
        var tooSmall = new Ext4WriterOptions { Output = Image("small.ext4"), Size = 16L << 20, FreeInodes = 0, Journal = false };
        long needed = await AssertDoesNotFitAsync(tooSmall, layer);
        Assert.False(File.Exists(Image("small.ext4")));
        Assert.Empty(System.IO.Directory.GetFiles(_scratch.Path, ".small.ext4.*"));

        await Ext4Images.WriteImageAsync(tooSmall with { Output = Image("exact.ext4"), Size = needed }, layer);
        await Ext4Images.AssertCleanAsync(Image("exact.ext4"));
        Assert.Equal(needed, new FileInfo(Image("exact.ext4")).Length);
        var superblock = await Ext4Images.SuperblockAsync(Image("exact.ext4"));
        Assert.InRange(long.Parse(superblock["Free inodes"], System.Globalization.CultureInfo.InvariantCulture), 0, 15); // inode tables come in whole blocks of 16
        Assert.InRange(long.Parse(superblock["Free blocks"], System.Globalization.CultureInfo.InvariantCulture), 0, 200); // only the unused part of the superblock zone

        Assert.Equal(needed, await AssertDoesNotFitAsync(tooSmall with { Output = Image("less.ext4"), Size = needed - 4096 }, layer));
    }

    [Fact]
    public async Task FixedSizeWithAJournalFitsWhatTheErrorNames()
    {
        byte[] layer = new LayerTar().File("big", new string('b', 30_000_000)).ToArray();
        var tooSmall = new Ext4WriterOptions { Output = Image("small.ext4"), Size = 16L << 20 };
        long needed = await AssertDoesNotFitAsync(tooSmall, layer);
        await Ext4Images.WriteImageAsync(tooSmall with { Output = Image("fits.ext4"), Size = needed }, layer);
        await Ext4Images.AssertCleanAsync(Image("fits.ext4"));
        Assert.Contains("has_journal", (await Ext4Images.SuperblockAsync(Image("fits.ext4")))["Filesystem features"], StringComparison.Ordinal);
    }

    /// <summary>Expects the "does not fit" error and returns the size it names.</summary>
    private static async Task<long> AssertDoesNotFitAsync(Ext4WriterOptions options, byte[] layer)
    {
        var error = await Assert.ThrowsAsync<DecantException>(() => Ext4Images.WriteImageAsync(options, layer));
        Assert.Equal(DecantErrorKind.OutputError, error.Kind);
        var match = System.Text.RegularExpressions.Regex.Match(error.Message, $"does not fit an ext4 image of {options.Size} bytes: needs ([0-9]+) bytes");
        Assert.True(match.Success, error.Message);
        return long.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
    }

    [Fact]
    public async Task FixedSizeLargerThanNeededIsKeptAndFree()
    {
        byte[] layer = new LayerTar().File("f", "content").ToArray();
        await Ext4Images.WriteImageAsync(new Ext4WriterOptions { Output = Image(), Size = 1L << 30 }, layer);
        await Ext4Images.AssertCleanAsync(Image());
        Assert.Equal(1L << 30, new FileInfo(Image()).Length);
        var superblock = await Ext4Images.SuperblockAsync(Image());
        Assert.Equal((1L << 30) / 4096, long.Parse(superblock["Block count"], System.Globalization.CultureInfo.InvariantCulture));
        Assert.Contains("has_journal", superblock["Filesystem features"], StringComparison.Ordinal);
        Assert.Equal("32M", superblock["Total journal size"]); // as mke2fs picks for 1 GiB
    }

    [Fact]
    public async Task FixedSizeWithATinyLastGroupLeavesItOutOfTheFilesystem()
    {
        long size = (1L << 30) + 3 * 4096;
        await Ext4Images.WriteImageAsync(new Ext4WriterOptions { Output = Image(), Size = size }, new LayerTar().File("f", "content").ToArray());
        await Ext4Images.AssertCleanAsync(Image());
        Assert.Equal(size, new FileInfo(Image()).Length);
        Assert.Equal("262144", (await Ext4Images.SuperblockAsync(Image()))["Block count"]);
    }

    [Fact]
    public async Task FixedSizeBeyondOneTebibyteGetsLargerDescriptorZones()
    {
        long size = 3L << 40; // 24 576 groups: 384 descriptor blocks, more than the automatic zones hold
        byte[] layer = new LayerTar().File("f", "content").ToArray();
        await Ext4Images.WriteImageAsync(new Ext4WriterOptions { Output = Image(), Size = size, FreeInodes = 0 }, layer);
        await Ext4Images.AssertCleanAsync(Image());
        var superblock = await Ext4Images.SuperblockAsync(Image());
        Assert.Equal((size / 4096).ToString(System.Globalization.CultureInfo.InvariantCulture), superblock["Block count"]);
        Assert.Equal("1024M", superblock["Total journal size"]);
        var automatic = await Assert.ThrowsAsync<DecantException>(() => Ext4Images.WriteImageAsync(new Ext4WriterOptions { Output = Image("auto.ext4"), FreeSpaceBytes = size }, layer));
        Assert.Contains("give a fixed size", automatic.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ExistingOutputIsRefusedWithoutForceAndAnAbortedWriteLeavesNothing()
    {
        File.WriteAllText(Image(), "keep");
        var refused = Assert.Throws<DecantException>(() => Ext4Writer.Create(new Ext4WriterOptions { Output = Image() }));
        Assert.Equal(DecantErrorKind.OutputError, refused.Kind);
        await using (var writer = Ext4Writer.Create(new Ext4WriterOptions { Output = Image(), Force = true }))
        {
            await writer.Content.WriteAsync(new MemoryStream(new byte[10000]), 10000, CancellationToken.None);
        }
        Assert.Equal("keep", File.ReadAllText(Image()));
        Assert.Equal([Image()], System.IO.Directory.GetFiles(_scratch.Path));
    }
}
