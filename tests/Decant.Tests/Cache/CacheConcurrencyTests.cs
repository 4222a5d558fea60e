using Decant.Tests.Cli;
using Decant.Tests.Support;

namespace Decant.Tests.Cache;

/// <summary>
/// Issue 9, concurrency: 8 decant processes export 3 images that share base layers into one
/// cache at the same moment. Every output is correct and each of the 6 distinct layers is
/// converted exactly once across all of them. The images come from the real registry through
/// <see cref="RegistryFaultProxy"/>, which holds every process's first manifest request until all
/// 8 have asked: a gate, so they start their layers together whatever the machine's speed.
/// </summary>
[Collection(UsesRegistries.Name)]
public sealed class CacheConcurrencyTests(RegistryFixture registries) : RegistryTest(registries)
{
    private const int Processes = 8;

    [Fact]
    public async Task EightProcessesSharingBaseLayersConvertEachLayerOnce()
    {
        byte[] Layer(int seed, string directory) => RandomLayers.Make(seed, directory, files: 40, 2 << 10, 96 << 10).Tar;
        byte[] base1 = Layer(801, "base1"), base2 = Layer(802, "base2");
        var images = new Dictionary<string, byte[][]>(StringComparer.Ordinal)
        {
            ["cache/concurrent-a"] = [base1, base2, Layer(803, "app-a")],
            ["cache/concurrent-b"] = [base1, base2, Layer(804, "app-b")],
            ["cache/concurrent-c"] = [base1, Layer(805, "c-one"), Layer(806, "c-two")],
        };
        int distinctLayers = images.Values.SelectMany(l => l).Distinct().Count();
        var expected = new Dictionary<string, TreeSnapshot>(StringComparer.Ordinal);
        foreach (var (repository, layers) in images)
        {
            await CacheCli.PushAsync(Registries, repository, layers, Token);
            string reference = NewOutput("no-cache");
            await CacheCli.ExportAsync(RegistryFixture.Reference(Registries.Anonymous, repository), reference, cache: null);
            expected[repository] = await TreeSnapshot.CaptureAsync(reference, cancellationToken: Token);
        }

        var allAsked = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        int manifestRequests = 0;
        await using var proxy = new RegistryFaultProxy(Registries.Anonymous.Port, request =>
        {
            if (!request.Path.Contains("/manifests/", StringComparison.Ordinal))
            {
                return Fault.None;
            }
            if (Interlocked.Increment(ref manifestRequests) == Processes)
            {
                allAsked.TrySetResult();
            }
            return new Fault(FaultKind.Hold, Until: allAsked.Task);
        });
        string cache = Path.Combine(Images.NewScratchDirectory("shared-cache"), "cache");
        var runs = Enumerable.Range(0, Processes).Select(i =>
        {
            string repository = images.Keys.ElementAt(i % images.Count);
            string output = NewOutput($"process-{i}");
            return (Repository: repository, Output: output,
                Run: CliProcess.RunAsync(CacheCli.ExportArguments($"docker://{proxy.Host}/{repository}:{RealImages.Tag}", output, cache)));
        }).ToList();
        await Task.WhenAll(runs.Select(r => r.Run));

        var summaries = new List<CacheExport>();
        foreach (var (repository, output, run) in runs)
        {
            var result = await run;
            Assert.True(result.ExitCode == 0, $"`{result.CommandLine}` exited with {result.ExitCode}:\n{result.StandardError}");
            var summary = CacheCli.Read(result);
            Assert.Equal(summary.Cache.LayersTotal, summary.Cache.LayersConverted + summary.Cache.LayersFromCache);
            TreeSnapshotAssert.Equal(expected[repository], await TreeSnapshot.CaptureAsync(output, cancellationToken: Token));
            summaries.Add(summary);
        }
        var layerGets = proxy.Requests.Where(r => r.Method == "GET" && r.Path.Contains("/blobs/", StringComparison.Ordinal))
            .GroupBy(r => r.Path[(r.Path.LastIndexOf('/') + 1)..]).Select(g => $"{g.Key[..19]}: {g.Count()}");
        Assert.True(distinctLayers == summaries.Sum(s => s.Cache.LayersConverted),
            $"{distinctLayers} distinct layers, converted {summaries.Sum(s => s.Cache.LayersConverted)} times in all " +
            $"(per process: {string.Join(", ", summaries.Select(s => s.Cache.LayersConverted))}; blob GETs: {string.Join(", ", layerGets)})");
        Assert.Equal(distinctLayers, CacheCli.Records(cache).Count);
        Assert.Empty(CacheCli.Temporaries(cache));
        await CacheCli.AssertIntactAsync(cache, Token);
    }
}
