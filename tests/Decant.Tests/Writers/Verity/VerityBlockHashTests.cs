using System.Security.Cryptography;
using Decant.Writers.Verity;

namespace Decant.Tests.Writers.Verity;

/// <summary>The block hash goes through OpenSSL's one-block functions here, and gives exactly what .NET's own hash gives.</summary>
public sealed class VerityBlockHashTests
{
    [Theory]
    [InlineData("sha256", 32)]
    [InlineData("sha256", 0)]
    [InlineData("sha512", 64)]
    [InlineData("sha512", 7)]
    public void MatchesDotNetsHashOfTheSaltThenTheBlock(string name, int saltLength)
    {
        var algorithm = VerityAlgorithm.FromName(name);
        using var hash = new VerityBlockHash(algorithm);
        Assert.True(hash.IsNative, "libcrypto's one-block functions were not found or disagreed with .NET");
        var random = new Random(saltLength);
        for (int round = 0; round < 50; round++)
        {
            byte[] salt = new byte[saltLength];
            byte[] block = new byte[4096];
            random.NextBytes(salt);
            random.NextBytes(block);
            if (round % 10 == 0)
            {
                Array.Clear(block);
            }
            using var reference = IncrementalHash.CreateHash(algorithm.Hash);
            reference.AppendData(salt);
            reference.AppendData(block);
            byte[] actual = new byte[algorithm.DigestBytes];

            hash.Hash(salt, block, actual);

            Assert.Equal(reference.GetHashAndReset(), actual);
        }
    }
}
