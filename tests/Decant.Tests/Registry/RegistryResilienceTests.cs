using System.Diagnostics;
using Decant.Export;
using Decant.Manifests;
using Decant.Model;
using Decant.References;
using Decant.Sources;
using Decant.Tests.Support;
using Decant.Writers;

namespace Decant.Tests.Registry;

/// <summary>
/// Faults injected between Decant and a real registry by <see cref="RegistryFaultProxy"/>: cut
/// connections resume with Range and still give the right tree; 429 and 503 are retried (honouring
/// Retry-After); flipped bytes fail the digest check and leave nothing behind; stalls time out fast
/// with a clear message.
/// </summary>
[Collection(UsesRegistries.Name)]
public sealed class RegistryResilienceTests(RegistryFixture registries) : RegistryTest(registries)
{
    private static readonly SourceOptions Fast = new()
    {
        MaxRetries = 5,
        RetryBaseDelay = TimeSpan.FromMilliseconds(10),
        MaxRetryDelay = TimeSpan.FromSeconds(2),
        RequestTimeout = TimeSpan.FromSeconds(10),
        StallTimeout = TimeSpan.FromSeconds(10),
    };

    private static bool IsBlobGet(ProxiedRequest r) => r.Method == "GET" && r.Path.Contains("/blobs/", StringComparison.Ordinal);

    [Fact]
    public async Task ConnectionsCutMidBlobSeveralTimesResumeAndGiveTheRightTree()
    {
        await using var proxy = new RegistryFaultProxy(Registries.Anonymous.Port, r =>
            IsBlobGet(r) && r.Number <= 3 ? new Fault(FaultKind.Cut, 0.4)
            : r.Method == "GET" && r.Path.Contains("/manifests/", StringComparison.Ordinal) && r.Number == 1 ? new Fault(FaultKind.Cut, 0.5)
            : Fault.None);
        var expected = await ExportAsync($"oci:{Registries.Images.UmociMulti}:latest", SourceOptions.Default);
        var actual = await ExportAsync(Reference(proxy, RegistryFixture.UmociMulti), Fast);
        TreeSnapshotAssert.Equal(expected, actual);

        var blobs = proxy.Requests.Where(IsBlobGet).GroupBy(r => r.Path).ToList();
        Assert.Equal(5, blobs.Count); // config + 4 layers
        foreach (var blob in blobs)
        {
            var requests = blob.OrderBy(r => r.Number).ToList();
            Assert.Equal(4, requests.Count);
            Assert.Null(requests[0].Range);
            Assert.All(requests.Skip(1), r => Assert.Matches("^bytes=[1-9][0-9]*-$", r.Range));
            Assert.Equal(3, requests.Skip(1).Select(r => r.Range).Distinct().Count()); // each resume starts further on
        }
    }

    [Fact]
    public async Task TooManyRequestsAndServiceUnavailableAreRetried()
    {
        await using var proxy = new RegistryFaultProxy(Registries.Anonymous.Port, r => r.Number switch
        {
            1 => new Fault(FaultKind.Status, Status: 503),
            2 => new Fault(FaultKind.Status, Status: 429, RetryAfter: "0"),
            _ => Fault.None,
        });
        var expected = await ExportAsync($"oci:{Registries.Images.BuildahOpaque}:latest", SourceOptions.Default);
        TreeSnapshotAssert.Equal(expected, await ExportAsync(Reference(proxy, RegistryFixture.BuildahOpaque), Fast));
        Assert.Contains(proxy.Requests, r => IsBlobGet(r) && r.Number == 3);
    }

    [Fact]
    public async Task RetryAfterIsHonoured()
    {
        await using var proxy = new RegistryFaultProxy(Registries.Anonymous.Port, r =>
            r.Path.Contains("/manifests/", StringComparison.Ordinal) && r.Number == 1 ? new Fault(FaultKind.Status, Status: 429, RetryAfter: "2") : Fault.None);
        var clock = Stopwatch.StartNew();
        await using var source = await ImageSources.OpenAsync(ImageReference.Parse(Reference(proxy, RegistryFixture.BuildahOpaque)), Fast, Token);
        await source.ResolveRootAsync(Token);
        Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(1.9), $"resolved after {clock.Elapsed}, before the 2 s Retry-After");
    }

    [Fact]
    public async Task PersistentRateLimitIsItsOwnError()
    {
        await using var proxy = new RegistryFaultProxy(Registries.Anonymous.Port, r =>
            r.Path.Contains("/manifests/", StringComparison.Ordinal) ? new Fault(FaultKind.Status, Status: 429, RetryAfter: "0") : Fault.None);
        var error = await Assert.ThrowsAsync<DecantException>(() => ExportAsync(Reference(proxy, RegistryFixture.BuildahOpaque), Fast with { MaxRetries = 2 }));
        Assert.Equal(DecantErrorKind.RateLimited, error.Kind);
        Assert.Contains("429", error.Message, StringComparison.Ordinal);
        Assert.Contains("3 attempts", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task FlippedBytesAreADigestMismatchAndLeaveNothingBehind()
    {
        await using var proxy = new RegistryFaultProxy(Registries.Anonymous.Port, r =>
            IsBlobGet(r) ? new Fault(FaultKind.FlipByte, 0.5) : Fault.None);
        string parent = Registries.Images.NewScratchDirectory("flipped");
        string output = Path.Combine(parent, "rootfs");
        var options = new ExportOptions { Output = output, Format = OutputFormat.Directory, Ownership = OwnershipMode.Preserve, Jobs = 2 };
        var error = await Assert.ThrowsAsync<DecantException>(() => ImageExporter.ExportAsync(Reference(proxy, RegistryFixture.UmociMulti), options, cancellationToken: Token));
        Assert.Equal(DecantErrorKind.DigestMismatch, error.Kind);
        Assert.Contains("digest mismatch", error.Describe(), StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateFileSystemEntries(parent));
    }

    [Fact]
    public async Task AStalledBodyTimesOutQuicklyWithAClearError()
    {
        await using var proxy = new RegistryFaultProxy(Registries.Anonymous.Port, r =>
            IsBlobGet(r) ? new Fault(FaultKind.StallBody, 0.3) : Fault.None);
        var clock = Stopwatch.StartNew();
        var error = await Assert.ThrowsAsync<DecantException>(() => ExportAsync(Reference(proxy, RegistryFixture.UmociMulti),
            Fast with { StallTimeout = TimeSpan.FromMilliseconds(300), MaxRetries = 1 }));
        Assert.Equal(DecantErrorKind.NetworkError, error.Kind);
        Assert.Contains("stalled", error.Message, StringComparison.Ordinal);
        Assert.Contains("interrupted 2 times", error.Message, StringComparison.Ordinal);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"took {clock.Elapsed}");
    }

    [Fact]
    public async Task AServerThatNeverAnswersTimesOutQuickly()
    {
        await using var proxy = new RegistryFaultProxy(Registries.Anonymous.Port, r =>
            r.Path.Contains("/manifests/", StringComparison.Ordinal) ? new Fault(FaultKind.StallHeaders) : Fault.None);
        var clock = Stopwatch.StartNew();
        var error = await Assert.ThrowsAsync<DecantException>(() => ExportAsync(Reference(proxy, RegistryFixture.UmociMulti),
            Fast with { RequestTimeout = TimeSpan.FromMilliseconds(300), MaxRetries = 1 }));
        Assert.Equal(DecantErrorKind.NetworkError, error.Kind);
        Assert.Contains("no response within 0.3 s", error.Message, StringComparison.Ordinal);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"took {clock.Elapsed}");
    }

    private static string Reference(RegistryFaultProxy proxy, string repository) => $"docker://{proxy.Host}/{repository}:latest";

    private async Task<TreeSnapshot> ExportAsync(string reference, SourceOptions options, Platform? platform = null) =>
        await RegistryExport.ExportAsync(reference, options, Path.Combine(Registries.Images.NewScratchDirectory("resilience"), "rootfs"), platform, Token);
}
