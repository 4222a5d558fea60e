using Decant.Manifests;
using Decant.Model;

namespace Decant.Tests.Manifests;

public class DigestTests
{
    [Fact]
    public void Sha256OfEmptyMatchesWellKnownValue()
    {
        Assert.Equal("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", Digest.Sha256Of([]).ToString());
    }

    [Theory]
    [InlineData("sha256:abc")]
    [InlineData("md5:d41d8cd98f00b204e9800998ecf8427e")]
    [InlineData("sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855")]
    [InlineData("nocolon")]
    public void RejectsMalformedDigests(string value)
    {
        var error = Assert.Throws<DecantException>(() => Digest.Parse(value));
        Assert.Equal(DecantErrorKind.InvalidManifest, error.Kind);
        Assert.Contains(value, error.Message, StringComparison.Ordinal);
    }
}
