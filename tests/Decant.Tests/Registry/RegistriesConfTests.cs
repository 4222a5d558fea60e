using Decant.Model;
using Decant.References;
using Decant.Sources;
using Decant.Sources.Registry;
using Decant.Tests.Support;

namespace Decant.Tests.Registry;

/// <summary>
/// registries.conf read through Tomlyn: every field Decant uses, errors that name the file, the
/// line and what is wrong, and subdomain wildcard prefixes (<c>*.example.com</c>) as
/// containers-registries.conf(5) defines them: matching, precedence and the forms refused.
/// </summary>
public sealed class RegistriesConfTests
{
    private static DecantException Refused(string text)
    {
        var error = Assert.Throws<DecantException>(() => RegistriesConf.Parse(text, "/etc/containers/registries.conf"));
        Assert.Equal(DecantErrorKind.Usage, error.Kind);
        return error;
    }

    [Fact]
    public void ReadsEveryFieldAndIgnoresWhatDecantDoesNotUse()
    {
        var conf = RegistriesConf.Parse("""
            unqualified-search-registries = ["docker.io", "quay.io"]
            short-name-mode = "enforcing"
            credential-helpers = ["containers-auth.json"]

            [[registry]]
            prefix = "example.com/foo"   # a comment after a value
            location = 'internal.example/bar'
            insecure = true
            mirror-by-digest-only = true
            pull-from-mirror = "all"

            [[registry.mirror]]
            location = "mirror-0.local/foo"

            [[registry.mirror]]
            location = "mirror-1.local/mirrors/foo"
            insecure = true

            [[registry]]
            location = "quay.io"
            blocked = true

            [aliases]
            "fedora" = "registry.fedoraproject.org/fedora"
            """, "test.conf");
        Assert.Equal(2, conf.Count);
        var first = conf[0];
        Assert.Equal(("example.com/foo", "internal.example/bar", true, false, true), (first.Prefix, first.Location, first.Insecure, first.Blocked, first.MirrorByDigestOnly));
        Assert.Equal([new RegistryMirrorConf("mirror-0.local/foo", false), new RegistryMirrorConf("mirror-1.local/mirrors/foo", true)], first.Mirrors);
        var second = conf[1];
        Assert.Equal(("quay.io", "quay.io", false, true, false), (second.Prefix, second.Location, second.Insecure, second.Blocked, second.MirrorByDigestOnly));
        Assert.Empty(second.Mirrors);
    }

    [Fact]
    public void InlineTablesAreTablesToo()
    {
        var conf = RegistriesConf.Parse("""
            registry = [{ prefix = "a.example", mirror = [{ location = "m.example", insecure = true }] }]
            """, "test.conf");
        var registry = Assert.Single(conf);
        Assert.Equal("a.example", registry.Location);
        Assert.Equal([new RegistryMirrorConf("m.example", true)], registry.Mirrors);
    }

    [Fact]
    public void AFileWithoutRegistriesHasNone()
    {
        Assert.Empty(RegistriesConf.Parse("", "empty.conf"));
        Assert.Empty(RegistriesConf.Parse("# only a comment\nunqualified-search-registries = []\n", "comment.conf"));
    }

    [Theory]
    [InlineData("[[registry]]\nprefix = \"a\"\nlocation = \n", ":3: ", "value")]
    [InlineData("[[registry]]\nprefix = \"unterminated\n", ":2: ", "string")]
    [InlineData("[[registry]]\nprefix = \"a\"\nprefix = \"b\"\n", ":3: ", "already defined")]
    [InlineData("[[registry]]\nprefix = \"a\"\n[registry]\n", ":3: ", "already defined")]
    [InlineData("prefix = \"a\"\njust some words\n", ":2: ", "")]
    public void MalformedTomlNamesTheFileAndTheLine(string text, string line, string what)
    {
        var error = Refused(text);
        Assert.StartsWith("/etc/containers/registries.conf" + line, error.Message, StringComparison.Ordinal);
        Assert.Contains(what, error.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Theory]
    [InlineData("[[registry]]\nprefix = \"a\"\ninsecure = \"yes\"\n", ":3: insecure in [[registry]] number 1 must be true or false, not the string \"yes\"")]
    [InlineData("[[registry]]\nlocation = \"a\"\n[[registry]]\n\nprefix = 5\n", ":5: prefix in [[registry]] number 2 must be a string, not the number 5")]
    [InlineData("registry = \"docker.io\"\n", ":1: registry in the top-level table must be an array of tables ([[registry]]), not the string \"docker.io\"")]
    [InlineData("[[registry.mirror]]\nlocation = \"m\"\n", ":1: registry in the top-level table must be an array of tables ([[registry]]), not a table")]
    [InlineData("[[registry]]\nprefix = \"a\"\nmirror = [\"m.example\"]\n", ":3: mirror in [[registry]] number 1 must be an array of tables ([[mirror]]), not an array")]
    [InlineData("[[registry]]\n\ninsecure = true\n", ":3: [[registry]] number 1 has neither prefix nor location")]
    [InlineData("[[registry]]\nprefix = \"\"\nlocation = \"\"\n", ":2: [[registry]] number 1 has neither prefix nor location")]
    [InlineData("[[registry]]\nprefix = \"a\"\n[[registry.mirror]]\ninsecure = true\n", ":4: [[registry.mirror]] number 1 of [[registry]] number 1 has no location")]
    public void WrongSettingsNameTheFileTheLineAndTheSetting(string text, string message)
    {
        Assert.Equal("/etc/containers/registries.conf" + message, Refused(text).Message);
    }

    [Fact]
    public void ATableWithNoKeysIsNamedByItsNumber()
    {
        Assert.Equal("/etc/containers/registries.conf: [[registry]] number 2 has neither prefix nor location", Refused("[[registry]]\nprefix = \"a\"\n[[registry]]\n").Message);
    }

    [Fact]
    public async Task AnUnreadableFileIsAUsageError()
    {
        using var scratch = new ScratchDirectory();
        string missing = scratch.Combine("registries.conf");
        var error = await Assert.ThrowsAsync<DecantException>(() => RegistriesConf.ReadAsync(missing, CancellationToken.None));
        Assert.Equal(DecantErrorKind.Usage, error.Kind);
        Assert.StartsWith($"cannot read registries.conf \"{missing}\": ", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ReadsAFile()
    {
        using var scratch = new ScratchDirectory();
        string path = scratch.Combine("registries.conf");
        await File.WriteAllTextAsync(path, "[[registry]]\nlocation = \"localhost:5000\"\ninsecure = true\n");
        var registry = Assert.Single(await RegistriesConf.ReadAsync(path, CancellationToken.None));
        Assert.Equal(("localhost:5000", "localhost:5000", true), (registry.Prefix, registry.Location, registry.Insecure));
        await File.WriteAllTextAsync(path, "[[registry]]\nlocation = true\n");
        var error = await Assert.ThrowsAsync<DecantException>(() => RegistriesConf.ReadAsync(path, CancellationToken.None));
        Assert.Equal($"{path}:2: location in [[registry]] number 1 must be a string, not true", error.Message);
    }

    /// <summary>The endpoints planned for <paramref name="image"/>, one line each: registry, repository, secure or not, mirror or primary.</summary>
    private static List<string> Plan(string conf, string image) =>
        [.. RegistryEndpoint.Plan(DockerImageName.Parse(image), SourceOptions.Default, RegistriesConf.Parse(conf, "test.conf"))
            .Select(e => $"{e.Registry} {e.Repository} {(e.Insecure ? "insecure" : "secure")} {(e.IsMirror ? "mirror" : "primary")}")];

    private const string SubdomainsOfExampleCom = """
        [[registry]]
        prefix = "*.example.com"
        insecure = true
        [[registry.mirror]]
        location = "mirror.local/cache"
        """;

    [Theory]
    [InlineData("a.example.com/ns/img", "ns/img")]
    [InlineData("b.a.example.com/img:1", "img")]
    [InlineData("a.example.com:5000/ns/img", "ns/img")]
    public void AWildcardMatchesEverySubdomainAndPullsTheNameAsItIs(string image, string repository)
    {
        string registry = image[..image.IndexOf('/', StringComparison.Ordinal)];
        Assert.Equal([$"mirror.local cache/{repository} secure mirror", $"{registry} {repository} insecure primary"], Plan(SubdomainsOfExampleCom, image));
    }

    [Theory]
    [InlineData("example.com/ns/img")]
    [InlineData("aexample.com/ns/img")]
    [InlineData("a.example.com.evil.io/ns/img")]
    [InlineData("a.example.org/ns/img")]
    [InlineData("docker.io/a.example.com/img")]
    public void AWildcardMatchesNeitherTheDomainItselfNorOtherHosts(string image)
    {
        var name = DockerImageName.Parse(image);
        Assert.Equal([$"{name.Registry} {name.Repository} secure primary"], Plan(SubdomainsOfExampleCom, image));
    }

    [Fact]
    public void AWildcardWithALocationReplacesTheRegistry()
    {
        string conf = """
            [[registry]]
            prefix = "*.example.com"
            location = "proxy.internal/example"
            """;
        Assert.Equal(["proxy.internal example/ns/img secure primary"], Plan(conf, "a.b.example.com/ns/img"));
        var registry = Assert.Single(RegistriesConf.Parse(conf, "test.conf"));
        Assert.Equal(("*.example.com", "proxy.internal/example", true), (registry.Prefix, registry.Location, registry.IsWildcard));
        Assert.Equal("", Assert.Single(RegistriesConf.Parse(SubdomainsOfExampleCom, "test.conf")).Location);
    }

    [Fact]
    public void AWildcardCanBlock()
    {
        string conf = "[[registry]]\nprefix = \"*.untrusted.example\"\nblocked = true\n";
        var error = Assert.Throws<DecantException>(() => Plan(conf, "x.untrusted.example/app:1"));
        Assert.Equal(DecantErrorKind.Denied, error.Kind);
        Assert.Contains("\"*.untrusted.example\"", error.Message, StringComparison.Ordinal);
        Assert.Equal(["untrusted.example app secure primary"], Plan(conf, "untrusted.example/app:1"));
    }

    [Theory]
    [InlineData("a.example.com/ns/img", "literal.local")] // a.example.com/ns (16) is longer than *.example.com (13)
    [InlineData("a.example.com/other", "wild.local")] // a.example.com/ns does not match
    [InlineData("b.a.example.com/ns/img", "deeper.local")] // *.a.example.com (15) is longer than *.example.com (13)
    [InlineData("ab.example.com/img", "ab.local")] // ab.example.com (14) is longer than *.example.com (13)
    [InlineData("c.example.com/img", "wild.local")] // the wildcard and c.example.com (13) tie; the first in ordinal order wins, as containers/image sorts by prefix
    public void TheLongestPrefixWins(string image, string expectedLocation)
    {
        string conf = """
            [[registry]]
            prefix = "c.example.com"
            location = "c.local"
            [[registry]]
            prefix = "a.example.com/ns"
            location = "literal.local"
            [[registry]]
            prefix = "*.example.com"
            location = "wild.local"
            [[registry]]
            prefix = "*.a.example.com"
            location = "deeper.local"
            [[registry]]
            prefix = "ab.example.com"
            location = "ab.local"
            """;
        Assert.StartsWith(expectedLocation + " ", Assert.Single(Plan(conf, image)), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("example.*.com")]
    [InlineData("*.example.com/foo")]
    [InlineData("*.example.com:5000")]
    [InlineData("*.example.com:5000/foo/bar:baz")]
    [InlineData("*.example.com@sha256:0000")]
    [InlineData("*example.com")]
    [InlineData("*.")]
    [InlineData("*.example..com")]
    [InlineData("*.*.example.com")]
    [InlineData("*")]
    public void AWildcardOfAnyOtherFormIsAnErrorNamingTheFileAndThePrefix(string prefix)
    {
        var error = Refused($"[[registry]]\nlocation = \"x.local\"\n\nprefix = \"{prefix}\"\n");
        Assert.Equal($"/etc/containers/registries.conf:4: prefix \"{prefix}\" of [[registry]] number 1 is not a valid wildcard: a wildcard prefix is *.DOMAIN (any subdomain of DOMAIN), with nothing after the domain (no port, path, tag or digest)", error.Message);
    }

    [Fact]
    public void ALocationCannotBeAWildcard()
    {
        Assert.Equal(
            "/etc/containers/registries.conf:2: location \"*.example.com\" of [[registry]] number 1 holds a wildcard; only a prefix may be *.DOMAIN",
            Refused("[[registry]]\nlocation = \"*.example.com\"\n").Message);
    }
}
