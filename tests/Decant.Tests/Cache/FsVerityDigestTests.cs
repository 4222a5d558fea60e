using Decant.Cache;
using Decant.Tests.Support;

namespace Decant.Tests.Cache;

/// <summary>The userspace fs-verity digest against fsverity-utils' own (<c>fsverity digest</c>), at every tree-shape boundary.</summary>
public class FsVerityDigestTests
{
    /// <summary>Sizes around one block, one full level-0 block of hashes (128 data blocks), and a second tree level.</summary>
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(4095)]
    [InlineData(4096)]
    [InlineData(4097)]
    [InlineData(128 * 4096)]
    [InlineData(128 * 4096 + 1)]
    [InlineData(129 * 4096)]
    [InlineData(128 * 128 * 4096)]
    [InlineData(128 * 128 * 4096 + 5000)]
    public async Task MatchesFsverityUtils(int size)
    {
        using var scratch = new ScratchDirectory();
        string file = scratch.Combine("content");
        byte[] content = new byte[size];
        new Random(size).NextBytes(content);
        await File.WriteAllBytesAsync(file, content);

        var expected = (await Tools.RunCheckedAsync("fsverity", ["digest", "--hash-alg=sha256", "--block-size=4096", file], CancellationToken.None)).StandardOutput.Split(' ')[0];
        Assert.Equal(expected, await FsVerityDigest.OfFileAsync(file, CancellationToken.None));

        // However the content arrives, in odd pieces or all at once, the digest is the same.
        var pieces = new FsVerityDigest();
        var random = new Random(7);
        for (int offset = 0; offset < size;)
        {
            int length = Math.Min(size - offset, random.Next(1, 20_000));
            pieces.Append(content.AsSpan(offset, length));
            offset += length;
        }
        Assert.Equal(expected, pieces.Finish());
    }

    /// <summary>Runs of zeros appended as holes hash exactly as the zero bytes would, at every alignment and tree level.</summary>
    [Theory]
    [InlineData(0, 1, 0)]
    [InlineData(0, 4096, 0)]
    [InlineData(100, 10, 100)]
    [InlineData(100, 4096 * 3, 5)]
    [InlineData(4096, 128 * 4096, 4096)]
    [InlineData(3, 128 * 128 * 4096 + 77, 9000)]
    [InlineData(0, 128 * 128 * 4096, 0)]
    [InlineData(5000, 129 * 128 * 4096, 0)]
    public void ZerosAppendedAsAHoleHashLikeTheirBytes(int before, int zeros, int after)
    {
        byte[] content = new byte[before + zeros + after];
        new Random(before + zeros).NextBytes(content.AsSpan(0, before));
        new Random(after).NextBytes(content.AsSpan(before + zeros));
        var bytes = new FsVerityDigest();
        bytes.Append(content);
        var hole = new FsVerityDigest();
        hole.Append(content.AsSpan(0, before));
        hole.AppendZeros(zeros);
        hole.Append(content.AsSpan(before + zeros));

        Assert.Equal(bytes.Finish(), hole.Finish());
    }

    /// <summary>A sparse file of a GiB and a bit, hashed from its holes in no time, against fsverity-utils reading all of it.</summary>
    [Fact]
    public async Task AHugeHoleMatchesFsverityUtils()
    {
        using var scratch = new ScratchDirectory();
        string file = scratch.Combine("sparse");
        const long Size = (1L << 30) + 12345;
        await using (var stream = File.Create(file))
        {
            stream.SetLength(Size);
        }
        var expected = (await Tools.RunCheckedAsync("fsverity", ["digest", "--hash-alg=sha256", "--block-size=4096", file], CancellationToken.None)).StandardOutput.Split(' ')[0];
        var hole = new FsVerityDigest();
        hole.AppendZeros(Size);

        Assert.Equal(expected, hole.Finish());
    }
}
