using Decant.Model;
using Decant.Sources.Registry;
using Decant.Tests.Support;

namespace Decant.Tests.Registry;

/// <summary>registries.conf read through Tomlyn: every field Decant uses, and errors that name the file, the line and what is wrong.</summary>
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
}
