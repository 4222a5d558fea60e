using Decant.Sources;
using Decant.Tests.Support;

namespace Decant.Tests.Registry;

/// <summary>
/// Blob redirects (a registry answering 307 to object storage) are followed by Decant itself, and
/// the registry's credentials never go to the other host; a server that ignores Range is survived.
/// </summary>
[Collection(UsesRegistries.Name)]
public sealed class RegistryRedirectTests(RegistryFixture registries) : RegistryTest(registries)
{
    private static readonly SourceOptions Fast = new() { MaxRetries = 5, RetryBaseDelay = TimeSpan.FromMilliseconds(10) };

    private static bool IsBlobGet(ProxiedRequest r) => r.Method == "GET" && r.Path.Contains("/blobs/", StringComparison.Ordinal);

    [Fact]
    public async Task BlobRedirectsToAnotherHostAreFollowedWithoutCredentials()
    {
        // "Object storage": another origin (localhost, not 127.0.0.1) in front of the anonymous registry.
        await using var storage = new RegistryFaultProxy(Registries.Anonymous.Port, _ => Fault.None);
        await using var registry = new RegistryFaultProxy(Registries.Basic.Port, r =>
            IsBlobGet(r) ? new Fault(FaultKind.Redirect, Location: $"http://localhost:{storage.Port}{r.Path}?signature=x") : Fault.None);
        var options = Fast with { Credentials = $"{RegistryFixture.BasicUser}:{RegistryFixture.BasicPassword}" };
        var expected = await RegistryExport.ExportAsync($"oci:{Registries.Images.UmociMulti}:latest", SourceOptions.Default, NewOutput("redirect"), null, Token);
        var actual = await RegistryExport.ExportAsync($"docker://{registry.Host}/{RegistryFixture.UmociMulti}:latest", options, NewOutput("redirect"), null, Token);
        TreeSnapshotAssert.Equal(expected, actual);

        Assert.Equal(5, storage.Requests.Count(IsBlobGet));
        Assert.DoesNotContain(storage.Requests, r => r.HasAuthorization);
        Assert.All(registry.Requests.Where(IsBlobGet), r => Assert.True(r.HasAuthorization, $"{r.Path} went to the registry without credentials"));
    }

    [Fact]
    public async Task AResumeAnsweredWithTheWholeBlobDropsWhatWasAlreadyRead()
    {
        await using var proxy = new RegistryFaultProxy(Registries.Anonymous.Port, r =>
            !IsBlobGet(r) ? Fault.None
            : r.Number == 1 ? new Fault(FaultKind.Cut, 0.6)
            : new Fault(FaultKind.IgnoreRange));
        var expected = await RegistryExport.ExportAsync($"oci:{Registries.Images.UmociMulti}:latest", SourceOptions.Default, NewOutput("norange"), null, Token);
        var actual = await RegistryExport.ExportAsync($"docker://{proxy.Host}/{RegistryFixture.UmociMulti}:latest", Fast, NewOutput("norange"), null, Token);
        TreeSnapshotAssert.Equal(expected, actual);
        Assert.Contains(proxy.Requests, r => IsBlobGet(r) && r.Number == 2 && r.Range is not null);
    }
}
