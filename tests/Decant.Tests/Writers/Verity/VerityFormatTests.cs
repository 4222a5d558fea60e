using Decant.Tests.Support;
using Decant.Writers.Verity;

namespace Decant.Tests.Writers.Verity;

/// <summary>
/// The hash tree against <c>veritysetup format</c>: for the same data, salt and UUID, everything
/// from the hash offset on (superblock, padding, every level) is byte for byte what veritysetup
/// writes, and the root hash is the one it prints, for tree shapes from no level (one block) to
/// three levels, with holes and all-zero blocks in the data (which are not read or hashed).
/// </summary>
public sealed class VerityFormatTests : IDisposable
{
    private const int Block = 4096;
    private const string Salt = "5eed0fdecafbad00112233445566778899aabbccddeeff0123456789abcdef42";
    private readonly ScratchDirectory _scratch = new();

    public void Dispose() => _scratch.Dispose();

    public static TheoryData<long, string, string> Shapes => new()
    {
        { Block, Salt, "sha256" },
        { 127L * Block, Salt, "sha256" },
        { 128L * Block, Salt, "sha256" },
        { 129L * Block, Salt, "sha256" },
        { (128L * 128 + 1) * Block, Salt, "sha256" },
        { (64L << 20) + 3 * Block, Salt, "sha256" },
        { 1L * Block, "", "sha256" },
        { 129L * Block, "", "sha256" },
        { (128L * 128 + 1) * Block, "", "sha256" },
        { 5000, Salt, "sha256" }, // not a whole block: padded with zeros to one
        { 65L * Block, "00", "sha512" },
        { (64L * 64 + 1) * Block, Salt, "sha512" },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public async Task TheHashAreaIsByteIdenticalToVeritysetupFormat(long dataBytes, string salt, string algorithm)
    {
        string ours = _scratch.Combine("ours.img");
        string theirs = _scratch.Combine("theirs.img");
        WriteData(ours, dataBytes);
        var result = await AppendAsync(ours, dataBytes, new VerityOptions { Salt = Convert.FromHexString(salt), Algorithm = algorithm });
        Assert.Equal((dataBytes + Block - 1) / Block * Block, result.HashOffset);
        Assert.Equal(result.HashOffset / Block, result.DataBlocks);
        Assert.Equal((salt, algorithm, Block, Block), (result.Salt, result.Algorithm, result.DataBlockSize, result.HashBlockSize));

        await Veritysetup.CopyDataAsync(ours, theirs, result.HashOffset);
        string rootHash = await Veritysetup.FormatAsync(theirs, result.HashOffset, salt, Veritysetup.UuidAt(ours, result.HashOffset), algorithm);
        Assert.Equal(rootHash, result.RootHash);
        AssertSameBytes(theirs, ours, result.HashOffset);
        await Veritysetup.AssertVerifiesAsync(ours, result);
    }

    [Fact]
    public async Task TheDerivedSaltAndUuidComeFromTheSeedAlone()
    {
        string first = _scratch.Combine("first.img"), second = _scratch.Combine("second.img"), other = _scratch.Combine("other.img");
        foreach (string path in new[] { first, second, other })
        {
            WriteData(path, 300L * Block);
        }
        var a = await AppendAsync(first, 300L * Block, new VerityOptions(), "seed"u8.ToArray());
        var b = await AppendAsync(second, 300L * Block, new VerityOptions(), "seed"u8.ToArray());
        var c = await AppendAsync(other, 300L * Block, new VerityOptions(), "another seed"u8.ToArray());
        Assert.Equal(a, b);
        Assert.Equal(64, a.Salt.Length);
        Assert.NotEqual(a.Salt, c.Salt);
        Assert.Equal(File.ReadAllBytes(first), File.ReadAllBytes(second));
        await Veritysetup.AssertVerifiesAsync(other, c);
    }

    /// <summary>
    /// Blocks hashed ahead, as a writer's store hands them over (in any order, overlapping, some
    /// freed and changed afterwards), give the same tree as hashing every block at the end, which
    /// veritysetup accepts, and the spool of digests is gone.
    /// </summary>
    [Theory]
    [InlineData("sha256")]
    [InlineData("sha512")]
    public async Task BlocksHashedAheadGiveTheSameTree(string algorithm)
    {
        const long Blocks = (128L * 3) + 77;
        string ahead = _scratch.Combine("ahead.img"), atTheEnd = _scratch.Combine("end.img");
        WriteData(ahead, Blocks * Block);
        var options = new VerityOptions { Salt = Convert.FromHexString(Salt), Algorithm = algorithm };
        VerityResult result;
        using (var file = File.OpenHandle(ahead, FileMode.Open, FileAccess.ReadWrite, FileShare.None, FileOptions.Asynchronous))
        {
            await using var digests = DiskImageVerity.StartDataDigests(file, options, seed: default, _scratch.Path);
            digests.Add(300, 90);
            digests.Add(3, 200);
            digests.Add(100, 10);
            digests.Add(420, 41);
            digests.Add(150, 60);
            digests.Seal([(425, 20), (0, 2), (260, 5)]); // freed: 425..444 is written below
            await RandomAccess.WriteAsync(file, new byte[5 * Block].Select((_, i) => (byte)(i * 7)).ToArray(), 430L * Block, CancellationToken.None);
            result = await DiskImageVerity.AppendAsync(file, Blocks * Block, options, default, digests, CancellationToken.None);
        }
        File.Copy(ahead, atTheEnd);
        using (var file = File.OpenHandle(atTheEnd, FileMode.Open, FileAccess.ReadWrite, FileShare.None, FileOptions.Asynchronous))
        {
            RandomAccess.SetLength(file, Blocks * Block);
        }
        var expected = await AppendAsync(atTheEnd, Blocks * Block, options);
        Assert.Equal(expected, result);
        AssertSameBytes(atTheEnd, ahead, 0);
        await Veritysetup.AssertVerifiesAsync(ahead, result);
        Assert.Empty(System.IO.Directory.GetFiles(_scratch.Path, ".decant-*"));
    }

    [Fact]
    public void TheJsonHasExactlyTheDocumentedFields()
    {
        var result = new VerityResult { RootHash = "ab", HashOffset = 8192, Salt = "", Algorithm = "sha256", DataBlockSize = 4096, HashBlockSize = 4096, DataBlocks = 2 };
        using var json = System.Text.Json.JsonDocument.Parse(result.ToJson());
        Assert.Equal(["rootHash", "hashOffset", "salt", "algorithm", "dataBlockSize", "hashBlockSize", "dataBlocks"], json.RootElement.EnumerateObject().Select(p => p.Name));
        Assert.Equal(("ab", 8192L, "", "sha256", 4096, 4096, 2L), (json.RootElement.GetProperty("rootHash").GetString(), json.RootElement.GetProperty("hashOffset").GetInt64(),
            json.RootElement.GetProperty("salt").GetString(), json.RootElement.GetProperty("algorithm").GetString(), json.RootElement.GetProperty("dataBlockSize").GetInt32(),
            json.RootElement.GetProperty("hashBlockSize").GetInt32(), json.RootElement.GetProperty("dataBlocks").GetInt64()));
    }

    [Theory]
    [InlineData(257, "sha256", "too long")]
    [InlineData(4, "md5", "not supported")]
    public async Task BadOptionsAreUsageErrors(int saltBytes, string algorithm, string message)
    {
        string image = _scratch.Combine("image.img");
        WriteData(image, 4L * Block);
        var error = await Assert.ThrowsAsync<Decant.Model.DecantException>(() => AppendAsync(image, 4L * Block, new VerityOptions { Salt = new byte[saltBytes], Algorithm = algorithm }));
        Assert.Equal(Decant.Model.DecantErrorKind.Usage, error.Kind);
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    private static async Task<VerityResult> AppendAsync(string image, long dataBytes, VerityOptions options, byte[]? seed = null)
    {
        using var file = File.OpenHandle(image, FileMode.Open, FileAccess.ReadWrite, FileShare.None, FileOptions.Asynchronous);
        return await DiskImageVerity.AppendAsync(file, dataBytes, options, seed ?? [], known: null, CancellationToken.None);
    }

    /// <summary>
    /// Writes <paramref name="bytes"/> bytes of test data: random blocks, every seventh block all
    /// zeros, and from 1 MiB on a 3 MiB hole every 8 MiB (left unwritten, so the file is sparse there).
    /// </summary>
    private static void WriteData(string path, long bytes)
    {
        var random = new Random(unchecked((int)bytes));
        using var file = File.OpenHandle(path, FileMode.Create, FileAccess.ReadWrite);
        RandomAccess.SetLength(file, bytes);
        byte[] block = new byte[Block];
        for (long offset = 0; offset < bytes; offset += Block)
        {
            long index = offset / Block;
            bool hole = offset >= 1 << 20 && (offset - (1 << 20)) % (8L << 20) < 3L << 20;
            if (hole || index % 7 == 3)
            {
                continue;
            }
            random.NextBytes(block);
            RandomAccess.Write(file, block.AsSpan(0, (int)Math.Min(Block, bytes - offset)), offset);
        }
    }

    /// <summary>Fails unless the two files are the same size and equal from <paramref name="offset"/> to their end, naming the first differing byte.</summary>
    private static void AssertSameBytes(string expected, string actual, long offset)
    {
        byte[] want = File.ReadAllBytes(expected), got = File.ReadAllBytes(actual);
        Assert.Equal(want.Length, got.Length);
        int mismatch = want.AsSpan((int)offset).CommonPrefixLength(got.AsSpan((int)offset));
        Assert.True(mismatch == want.Length - offset, $"the hash areas differ at byte {offset + mismatch} (hash offset {offset}, file size {want.Length})");
    }
}
