using Decant.Model;
using Decant.Sources;
using Decant.Tests.Support;

namespace Decant.Tests.Registry;

/// <summary>
/// Mirrors (<see cref="SourceOptions.Mirrors"/> and registries.conf) are tried before the image's
/// registry, never with its credentials, and registries.conf can relocate or block a prefix.
/// </summary>
[Collection(UsesRegistries.Name)]
public sealed class RegistryMirrorTests(RegistryFixture registries) : RegistryTest(registries)
{
    private static readonly SourceOptions Fast = new() { MaxRetries = 1, RetryBaseDelay = TimeSpan.FromMilliseconds(10), RequestTimeout = TimeSpan.FromSeconds(5) };

    [Fact]
    public async Task AMirrorServesTheImageWhenTheRegistryIsDown()
    {
        string deadRegistry = $"127.0.0.1:{RegistryTokenIssuer.FreePort()}";
        var actual = await ExportAsync($"docker://{deadRegistry}/{RegistryFixture.UmociMulti}:latest", Fast with { Mirrors = [Registries.Anonymous.Host] });
        TreeSnapshotAssert.Equal(await ExpectedAsync(Registries.Images.UmociMulti), actual);
    }

    [Fact]
    public async Task AMirrorNeverGetsThePrimarysCredentialsAndFailsOverToThePrimary()
    {
        await using var mirror = new RegistryFaultProxy(Registries.Basic.Port, _ => Fault.None);
        var options = Fast with
        {
            Mirrors = [mirror.Host],
            Credentials = $"{RegistryFixture.BasicUser}:{RegistryFixture.BasicPassword}",
            Environment = name => name == "HOME" ? "/nonexistent/decant-test-home" : null,
        };
        var actual = await ExportAsync(RegistryFixture.Reference(Registries.Basic, RegistryFixture.UmociMulti), options);
        TreeSnapshotAssert.Equal(await ExpectedAsync(Registries.Images.UmociMulti), actual);
        Assert.Contains(mirror.Requests, r => r.Path.Contains("/manifests/", StringComparison.Ordinal));
        Assert.DoesNotContain(mirror.Requests, r => r.HasAuthorization);
    }

    [Fact]
    public async Task RegistriesConfMirrorsRelocationsAndBlocks()
    {
        string dead = $"127.0.0.1:{RegistryTokenIssuer.FreePort()}";
        string conf = Path.Combine(Registries.Images.NewScratchDirectory("conf"), "registries.conf");
        await File.WriteAllTextAsync(conf, $"""
            # registries.conf v2, the fields Decant reads
            unqualified-search-registries = ["docker.io"]

            [[registry]]
            prefix = "example.invalid/mirrored"
            location = "{dead}/nothing-here"   # the primary is down

            [[registry.mirror]]
            location = "{Registries.Anonymous.Host}/corpus"

            [[registry]]
            prefix = "example.invalid/relocated"
            location = '{Registries.Anonymous.Host}/corpus'

            [[registry]]
            prefix = "example.invalid/blocked"
            blocked = true
            """, Token);
        var options = Fast with { RegistriesConf = conf };
        var expected = await ExpectedAsync(Registries.Images.BuildahOpaque);
        TreeSnapshotAssert.Equal(expected, await ExportAsync("docker://example.invalid/mirrored/buildah-opaque:latest", options));
        TreeSnapshotAssert.Equal(expected, await ExportAsync("example.invalid/relocated/buildah-opaque", options));
        var blocked = await Assert.ThrowsAsync<DecantException>(() => ExportAsync("docker://example.invalid/blocked/x:latest", options));
        Assert.Equal(DecantErrorKind.Denied, blocked.Kind);
        Assert.Contains("blocks", blocked.Message, StringComparison.Ordinal);
    }

    private async Task<TreeSnapshot> ExpectedAsync(string layout) =>
        await RegistryExport.ExportAsync($"oci:{layout}:latest", SourceOptions.Default, NewOutput("mirror"), null, Token);

    private async Task<TreeSnapshot> ExportAsync(string reference, SourceOptions options) =>
        await RegistryExport.ExportAsync(reference, options, NewOutput("mirror"), null, Token);
}
