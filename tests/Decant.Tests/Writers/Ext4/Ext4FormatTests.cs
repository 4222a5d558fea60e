using System.Text;
using Decant.Layers;
using Decant.Model;
using Decant.Tests.Support;
using Decant.Writers;
using Decant.Writers.Ext4;

namespace Decant.Tests.Writers.Ext4;

/// <summary>The on-disk primitives against independent references: the standard CRC32C check value and e2fsprogs' own directory hash.</summary>
public sealed class Ext4FormatTests : IDisposable
{
    private readonly ScratchDirectory _scratch = new();

    public void Dispose() => _scratch.Dispose();

    [Fact]
    public void Crc32CIsTheRawCastagnoliCrcExt4Uses()
    {
        // The standard CRC32C of "123456789" is 0xE3069283; ext4 keeps the value un-inverted.
        Assert.Equal(~0xE3069283u, Crc32C.Append(~0u, "123456789"u8));
        Assert.Equal(Crc32C.Append(Crc32C.Append(~0u, "1234"u8), "56789"u8), Crc32C.Append(~0u, "123456789"u8));
        Assert.Equal(Crc32C.Append(7u, [1, 0, 0, 0]), Crc32C.Append(7u, 1u));
    }

    [Fact]
    public async Task DirectoryHashEqualsDebugfsHalfMd4Unsigned()
    {
        byte[] seed = [9, 8, 7];
        string image = _scratch.Combine("hash.ext4");
        await Ext4Images.WriteImageAsync(new Ext4WriterOptions { Output = image, Seed = seed, Journal = false }, new LayerTar().File("f", "x").ToArray());
        var hash = new DirectoryHash(Ext4Writer.DeriveIdentity(seed).HashSeed);
        string seedText = (await Ext4Images.SuperblockAsync(image))["Directory Hash Seed"]; // the seed as written, printed by dumpe2fs
        string[] names =
        [
            "a", "ab", "abc", "abcd", "abcde", "lost+found", "café", "ünïcödé-ñame-ÿ", new string('x', 31), new string('y', 32),
            new string('z', 33), "file-012345-with-a-name-long-enough-for-two-levels", new string('w', 100) + "é", new string('q', 255),
        ];
        foreach (string name in names)
        {
            string printed = await Ext4Images.DebugFsAsync(image, $"dx_hash -h 4 -s {seedText} {name}"); // 4: half_md4, unsigned
            var match = System.Text.RegularExpressions.Regex.Match(printed, "is 0x([0-9a-f]+)");
            Assert.True(match.Success, printed);
            uint expected = uint.Parse(match.Groups[1].Value, System.Globalization.NumberStyles.HexNumber, System.Globalization.CultureInfo.InvariantCulture);
            Assert.True(expected == hash.Hash(Encoding.UTF8.GetBytes(name)), $"{name}: debugfs {expected:x8}, ours {hash.Hash(Encoding.UTF8.GetBytes(name)):x8}");
        }
    }

    [Theory]
    [InlineData(0L, 0u, 0u, 0u)]
    [InlineData(1_700_000_000L, 123_456_789u, 1_700_000_000u, 123_456_789u << 2)]
    [InlineData(-1L, 5u, 0xFFFF_FFFFu, 5u << 2)]
    [InlineData(1L << 31, 0u, 0x8000_0000u, 1u)] // 2038: one epoch bit
    [InlineData(4_102_444_800L, 1u, 4_102_444_800u, 1u | (1u << 2))] // 2100
    public void TimesKeepNanosecondsAndEpochBits(long seconds, uint nanoseconds, uint low, uint extra)
    {
        Assert.Equal((low, extra), InodeRecord.EncodeTime(new Timestamp(seconds, nanoseconds)));
    }

    [Fact]
    public void ExtentTreeOfManyExtentsReadsBackInOrder()
    {
        var extents = Enumerable.Range(0, 500_000).Select(i => new FileExtent((uint)(2 * i), 1000 + i, 1)).ToList();
        int needed = ExtentTree.BlocksNeeded(extents.Count);
        Assert.Equal(1471 + 5 + 1, needed); // leaves, index blocks, and one more level for the five of them
        var blocks = Enumerable.Range(0, needed).Select(i => 5_000_000L + i).ToList();
        byte[] iblock = new byte[60];
        var written = ExtentTree.Build(extents, blocks, inodeSeed: 42, iblock).ToDictionary(b => b.Block, b => b.Data);
        Assert.Equal(needed, written.Count);
        Assert.Equal(3, BitConverter.ToUInt16(iblock, 6)); // depth
        var read = new List<FileExtent>();
        Collect(iblock, written, read);
        Assert.Equal(extents, read);
        foreach (byte[] data in written.Values)
        {
            Assert.Equal(Crc32C.Append(42, data.AsSpan(0, 4092)), BitConverter.ToUInt32(data, 4092));
        }
    }

    private static void Collect(ReadOnlySpan<byte> node, Dictionary<long, byte[]> blocks, List<FileExtent> into)
    {
        Assert.Equal(0xF30A, BitConverter.ToUInt16(node));
        int entries = BitConverter.ToUInt16(node[2..]);
        int depth = BitConverter.ToUInt16(node[6..]);
        for (int i = 0; i < entries; i++)
        {
            var entry = node.Slice(12 + 12 * i, 12);
            if (depth == 0)
            {
                into.Add(new FileExtent(BitConverter.ToUInt32(entry), ((long)BitConverter.ToUInt16(entry[6..]) << 32) | BitConverter.ToUInt32(entry[8..]), BitConverter.ToUInt16(entry[4..])));
            }
            else
            {
                long child = BitConverter.ToUInt32(entry[4..]) | ((long)BitConverter.ToUInt16(entry[8..]) << 32);
                Collect(blocks[child], blocks, into);
            }
        }
    }
}
