using System.Security.Cryptography;
using Decant.Tests.Support;
using Decant.Tests.Writers.Ext4;
using Decant.Writers;
using Decant.Writers.Ext4;
using Decant.Writers.Verity;

namespace Decant.Tests.Writers.Verity;

/// <summary>
/// ext4 images with a dm-verity tree (<see cref="Ext4WriterOptions.Verity"/>), against the real
/// tools: <c>veritysetup verify</c> accepts the root hash the export returns and rejects the image
/// after any one byte of the filesystem changes; <c>veritysetup format</c> on the same filesystem
/// with the same salt writes the same tree; the tree after the filesystem neither bothers
/// <c>e2fsck -fn</c> nor a read-only loop mount; and the image is the same bytes every time.
/// </summary>
public sealed class Ext4VerityTests : IDisposable
{
    private readonly ScratchDirectory _scratch = new();

    public void Dispose() => _scratch.Dispose();

    private static byte[] Layer() => new LayerTar()
        .Dir("etc", mode: 0b111_101_101)
        .File("etc/hostname", "decant\n")
        .File("etc/os-release", "ID=decant\n", mode: 0b110_100_100)
        .Dir("usr/bin")
        .File("usr/bin/tool", new string('x', 300_000), mode: 0b111_101_101, uid: 70000, gid: 5)
        .Symlink("bin", "usr/bin")
        .Hardlink("etc/hostname2", "etc/hostname")
        .Fifo("run-fifo")
        .ToArray();

    private async Task<(string Image, VerityResult Verity)> ExportAsync(string name, Ext4WriterOptions? options = null)
    {
        string image = _scratch.Combine(name);
        var summary = await Ext4Images.WriteImageAsync((options ?? new Ext4WriterOptions()) with { Output = image, Verity = options?.Verity ?? new VerityOptions() }, Layer());
        Assert.NotNull(summary.Verity);
        return (image, summary.Verity);
    }

    [Fact]
    public async Task VerifyAcceptsTheImageWhichStillPassesFsckAndMountsAsTheDirectoryExport()
    {
        var (image, verity) = await ExportAsync("image.ext4");
        var superblock = await Ext4Images.SuperblockAsync(image);
        Assert.Equal(long.Parse(superblock["Block count"], System.Globalization.CultureInfo.InvariantCulture) * 4096, verity.HashOffset);
        Assert.Equal((verity.HashOffset / 4096, "sha256", 4096, 4096, 64), (verity.DataBlocks, verity.Algorithm, verity.DataBlockSize, verity.HashBlockSize, verity.Salt.Length));
        Assert.True(new FileInfo(image).Length > verity.HashOffset + 4096);
        await Veritysetup.AssertVerifiesAsync(image, verity);

        await Ext4Images.AssertCleanAsync(image);
        string directory = _scratch.Combine("dir");
        await Ext4Images.WriteDirectoryAsync(directory, Layer());
        await using var mounted = await Ext4Images.MountAsync(image, _scratch.Combine("mnt"));
        await Ext4Images.AssertSameTreeAsync(directory, mounted.Path);
    }

    [Fact]
    public async Task OneFlippedByteAnywhereInTheFilesystemFailsVerify()
    {
        var (image, verity) = await ExportAsync("image.ext4");
        long[] offsets = [0, 1024 + 0x38, verity.HashOffset / 2, verity.HashOffset / 2 + 4097, verity.HashOffset - 4096, verity.HashOffset - 1];
        foreach (long offset in offsets)
        {
            FlipByte(image, offset);
            var result = await Veritysetup.VerifyAsync(image, verity);
            Assert.True(result.ExitCode != 0, $"veritysetup verify accepted the image with byte {offset} flipped");
            FlipByte(image, offset);
        }
        await Veritysetup.AssertVerifiesAsync(image, verity);
    }

    [Fact]
    public async Task VeritysetupFormatOnTheSameFilesystemWithTheSameSaltWritesTheSameTree()
    {
        var (image, verity) = await ExportAsync("image.ext4");
        string theirs = _scratch.Combine("theirs.ext4");
        await Veritysetup.CopyDataAsync(image, theirs, verity.HashOffset);
        string rootHash = await Veritysetup.FormatAsync(theirs, verity.HashOffset, verity.Salt, Veritysetup.UuidAt(image, verity.HashOffset));
        Assert.Equal(rootHash, verity.RootHash);
        Assert.Equal(await HashFileAsync(image), await HashFileAsync(theirs));
    }

    [Fact]
    public async Task TwoExportsAreTheSameBytesAndAGivenSaltIsUsed()
    {
        var (first, a) = await ExportAsync("first.ext4");
        var (second, b) = await ExportAsync("second.ext4");
        Assert.Equal(a, b);
        Assert.Equal(await HashFileAsync(first), await HashFileAsync(second));

        var (salted, c) = await ExportAsync("salted.ext4", new Ext4WriterOptions { Verity = new VerityOptions { Salt = [0xde, 0xca, 0xfb, 0xad] } });
        Assert.Equal("decafbad", c.Salt);
        Assert.NotEqual(a.RootHash, c.RootHash);
        await Veritysetup.AssertVerifiesAsync(salted, c);
    }

    [Fact]
    public async Task AFixedSizeImageWithoutAJournalGetsItsTreeAfterTheFixedSize()
    {
        var (image, verity) = await ExportAsync("fixed.ext4", new Ext4WriterOptions { Size = (16L << 20) + 1000, Journal = false, Verity = new VerityOptions { Algorithm = "sha512", Salt = [] } });
        Assert.Equal((16L << 20, "sha512", ""), (verity.HashOffset, verity.Algorithm, verity.Salt));
        await Veritysetup.AssertVerifiesAsync(image, verity);
        await Ext4Images.AssertCleanAsync(image);
    }

    internal static void FlipByte(string path, long offset)
    {
        using var file = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite);
        byte[] one = new byte[1];
        RandomAccess.Read(file, one, offset);
        one[0] ^= 0x01;
        RandomAccess.Write(file, one, offset);
    }

    internal static async Task<string> HashFileAsync(string path)
    {
        await using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(await SHA256.HashDataAsync(stream));
    }
}
