using Decant.References;
using Decant.Sources;
using Decant.Sources.Registry;

namespace Decant.Tests.Registry;

/// <summary>The registry transport's small parsers and rules: challenges, auth keys, registries.conf, endpoint planning.</summary>
public sealed class RegistryParsingTests
{
    [Fact]
    public void ParsesBearerChallengesWithQuotedCommasAndEscapes()
    {
        var challenge = AuthChallenge.Parse("Bearer", "realm=\"https://auth.example/token\",service=\"reg.example\",scope=\"repository:a/b:pull,push\",error=\"insufficient_scope\",x=\"q\\\"d\"");
        Assert.True(challenge.IsBearer);
        Assert.Equal("https://auth.example/token", challenge.Realm);
        Assert.Equal("reg.example", challenge.Service);
        Assert.Equal("repository:a/b:pull,push", challenge.Scope);
        Assert.Equal("q\"d", challenge.Parameters["x"]);
        Assert.True(AuthChallenge.Parse("basic", "realm=Registry").IsBasic);
    }

    [Theory]
    [InlineData("https://index.docker.io/v1/", "docker.io")]
    [InlineData("index.docker.io", "docker.io")]
    [InlineData("registry-1.docker.io/library", "docker.io/library")]
    [InlineData("http://localhost:5000/v2/", "localhost:5000")]
    [InlineData("quay.io/org/", "quay.io/org")]
    public void NormalizesAuthKeys(string key, string normalized) =>
        Assert.Equal(normalized, CredentialSearch.NormalizeKey(key));

    [Fact]
    public void DockerHubIsServedByRegistryOneAndNeedsTls()
    {
        var endpoints = RegistryEndpoint.Plan(DockerImageName.Parse("alpine"), SourceOptions.Default, []);
        var hub = Assert.Single(endpoints);
        Assert.Equal("registry-1.docker.io", hub.NetworkHost);
        Assert.Equal("library/alpine", hub.Repository);
        Assert.False(hub.Insecure);
    }

    [Theory]
    [InlineData("localhost:5000", true)]
    [InlineData("127.0.0.1:5000", true)]
    [InlineData("127.1.2.3", true)]
    [InlineData("[::1]:5000", true)]
    [InlineData("registry.example:5000", false)]
    [InlineData("10.0.0.1:5000", false)]
    public void OnlyLoopbackIsInsecureByDefault(string registry, bool insecure)
    {
        var endpoint = Assert.Single(RegistryEndpoint.Plan(new DockerImageName(registry, "app"), SourceOptions.Default, []));
        Assert.Equal(insecure, endpoint.Insecure);
    }

    [Fact]
    public void NamedInsecureRegistriesAndTlsVerifyFalseAllowPlainHttp()
    {
        var image = new DockerImageName("registry.example:5000", "app");
        Assert.True(RegistryEndpoint.Plan(image, new SourceOptions { InsecureRegistries = ["registry.example:5000"] }, []).Single().Insecure);
        Assert.True(RegistryEndpoint.Plan(image, new SourceOptions { InsecureRegistries = ["registry.example"] }, []).Single().Insecure);
        Assert.True(RegistryEndpoint.Plan(image, new SourceOptions { TlsVerify = false }, []).Single().Insecure);
        Assert.False(RegistryEndpoint.Plan(image, new SourceOptions { InsecureRegistries = ["other.example"] }, []).Single().Insecure);
    }

    [Fact]
    public void RegistriesConfMirrorsComeFirstThenOptionMirrorsThenThePrimary()
    {
        var conf = RegistriesConf.Parse("""
            [[registry]]
            prefix = "docker.io/library"
            location = "primary.example/lib"
            mirror-by-digest-only = false
            [[registry.mirror]]
            location = "mirror-a.example/hub"
            insecure = true
            [aliases]
            "x" = "y"
            """, "test.conf");
        var endpoints = RegistryEndpoint.Plan(DockerImageName.Parse("busybox:1.36"), new SourceOptions { Mirrors = ["mirror-b.example"] }, conf);
        Assert.Equal(
            ["mirror-a.example hub/busybox insecure mirror", "mirror-b.example library/busybox secure mirror", "primary.example lib/busybox secure primary"],
            endpoints.Select(e => $"{e.Registry} {e.Repository} {(e.Insecure ? "insecure" : "secure")} {(e.IsMirror ? "mirror" : "primary")}"));
    }

    [Fact]
    public void MirrorByDigestOnlySkipsMirrorsForTags()
    {
        var conf = RegistriesConf.Parse("""
            [[registry]]
            location = "quay.io"
            mirror-by-digest-only = true
            [[registry.mirror]]
            location = "mirror.example"
            """, "test.conf");
        Assert.Single(RegistryEndpoint.Plan(DockerImageName.Parse("quay.io/org/app:1"), SourceOptions.Default, conf));
        Assert.Equal(2, RegistryEndpoint.Plan(DockerImageName.Parse("quay.io/org/app@sha256:" + new string('a', 64)), SourceOptions.Default, conf).Count);
    }
}
