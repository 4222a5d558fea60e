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
        using var pieces = new FsVerityDigest();
        var random = new Random(7);
        for (int offset = 0; offset < size;)
        {
            int length = Math.Min(size - offset, random.Next(1, 20_000));
            pieces.Append(content.AsSpan(offset, length));
            offset += length;
        }
        Assert.Equal(expected, pieces.Finish());
    }
}
