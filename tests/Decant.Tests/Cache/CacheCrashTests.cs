using System.Diagnostics;
using Decant.Tests.Cli;
using Decant.Tests.Support;

namespace Decant.Tests.Cache;

/// <summary>
/// Issue 9, crashes: <c>kill -9</c> of <c>decant export</c> at many moments drawn from a fixed
/// seed and spread over an export's working time (from its first progress line to its exit:
/// downloading, converting, writing objects, publishing records, writing the output). After each
/// kill the cache holds nothing that is not whole (every object matches its name, every record
/// regenerates its layer), the next export of the same image succeeds with the tree a
/// <c>--no-cache</c> export gives, and it leaves no temporary file behind (the dead process's are
/// swept). Before each kill the cache is, in turn, empty, partly damaged (a record and an object
/// deleted) or as the last export left it, so kills land in cold, partial and warm exports.
/// </summary>
[Collection(UsesRegistries.Name)]
public sealed class CacheCrashTests(RegistryFixture registries) : RegistryTest(registries, timeLimit: 5)
{
    private const int Kills = 30;
    private const int Seed = 9_009;
    private const string Repository = "cache/crash";
    /// <summary>How a process killed by SIGKILL exits, as .NET reports it (128 + 9).</summary>
    private const int KilledExitCode = 137;

    [Fact]
    public async Task AnExportKilledAtAnyMomentLeavesACacheTheNextExportUsesCorrectly()
    {
        var layers = Enumerable.Range(0, 4).Select(i => RandomLayers.Make(seed: 900 + i, $"layer{i}", files: 20, 4 << 10, 128 << 10).Tar).ToList();
        await CacheCli.PushAsync(Registries, Repository, layers, Token);
        string reference = RegistryFixture.Reference(Registries.Anonymous, Repository);
        string scratch = Images.NewScratchDirectory("crash");
        await CacheCli.ExportAsync(reference, Path.Combine(scratch, "no-cache"), cache: null);
        var expected = await TreeSnapshot.CaptureAsync(Path.Combine(scratch, "no-cache"), cancellationToken: Token);
        // How long a cold export with the cache works, measured once (into a cache of its own).
        var timing = await RunAsync(reference, Path.Combine(scratch, "timing"), Path.Combine(scratch, "timing-cache"), killAfter: null);
        Assert.True(timing.ExitCode == 0, $"the timing export failed:\n{timing.StandardError}");

        string cache = Path.Combine(scratch, "cache");
        var random = new Random(Seed);
        var observed = new List<string>();
        for (int kill = 0; kill < Kills; kill++)
        {
            Prepare(cache, kill % 3, random);
            var delay = timing.Working * random.NextDouble();
            string killedOutput = Path.Combine(scratch, $"killed-{kill}");
            var killed = await RunAsync(reference, killedOutput, cache, delay);
            int own = CacheCli.Temporaries(cache).Count(t => t.StartsWith(killed.Pid + ".", StringComparison.Ordinal));
            observed.Add($"{delay.TotalMilliseconds:F0} ms: {(killed.Killed ? "killed" : $"exited {killed.ExitCode}")}, {CacheCli.Records(cache).Count} records, {own} temporaries of its own");
            Assert.True(killed.Killed || killed.ExitCode == 0, $"kill {kill}: an export left alone failed:\n{killed.StandardError}");

            await CacheCli.AssertIntactAsync(cache, Token, allowPartial: kill % 3 == 1);
            string output = Path.Combine(scratch, $"after-{kill}");
            await CacheCli.ExportAsync(reference, output, cache);
            TreeSnapshotAssert.Equal(expected, await TreeSnapshot.CaptureAsync(output, cancellationToken: Token));
            Assert.True(CacheCli.Temporaries(cache).Count == 0, $"after kill {kill} ({observed[^1]}), the next export left temporaries: {string.Join(", ", CacheCli.Temporaries(cache))}");
            foreach (string leftover in new[] { killedOutput, output }.Where(Path.Exists))
            {
                Directory.Delete(leftover, recursive: true);
            }
        }

        await CacheCli.AssertIntactAsync(cache, Token);
        // The kills did land inside the work, not only before it began or after it ended.
        string report = string.Join("\n", observed);
        Assert.True(observed.Count(o => o.Contains("killed", StringComparison.Ordinal)) >= Kills / 2, $"fewer than half the runs were killed:\n{report}");
        Assert.True(observed.Any(o => !o.EndsWith(" 0 temporaries of its own", StringComparison.Ordinal)), $"no kill caught a write in progress:\n{report}");
    }

    /// <summary>Puts the cache in the state a kill meets: 0 empty, 1 one record and one object deleted, 2 as the last export left it.</summary>
    private static void Prepare(string cache, int state, Random random)
    {
        if (state == 0 && Directory.Exists(cache))
        {
            Directory.Delete(cache, recursive: true);
        }
        if (state == 1)
        {
            var records = CacheCli.Records(cache);
            var objects = Directory.GetFiles(Path.Combine(cache, "objects"), "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToList();
            File.Delete(Path.Combine(cache, "layers", "sha256", records[random.Next(records.Count)][7..]));
            File.Delete(objects[random.Next(objects.Count)]);
        }
    }

    /// <summary>What one export run did: its process id, its exit, whether it was killed, its stderr, and how long it worked (first progress line to exit).</summary>
    private sealed record Run(int Pid, int ExitCode, bool Killed, string StandardError, TimeSpan Working);

    /// <summary>
    /// Runs an export through <paramref name="cache"/> and, when <paramref name="killAfter"/> is
    /// given, kills it with SIGKILL that long after its first progress line unless it has exited.
    /// </summary>
    private async Task<Run> RunAsync(string reference, string output, string cache, TimeSpan? killAfter)
    {
        var command = CliProcess.Command(CacheCli.ExportArguments(reference, output, cache));
        var start = new ProcessStartInfo(command[0]) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (string argument in command.Skip(1))
        {
            start.ArgumentList.Add(argument);
        }
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync(Token);
        var firstLine = await process.StandardError.ReadLineAsync(Token) ?? "";
        var working = Stopwatch.StartNew();
        var rest = process.StandardError.ReadToEndAsync(Token);
        var exited = process.WaitForExitAsync(Token);
        if (killAfter is { } delay && await Task.WhenAny(exited, Task.Delay(delay, Token)) != exited)
        {
            // env execs dotnet, so this is decant itself; Kill sends SIGKILL (a no-op when it has just exited).
            process.Kill();
        }
        await exited;
        working.Stop();
        await stdout;
        return new Run(process.Id, process.ExitCode, process.ExitCode == KilledExitCode, firstLine + "\n" + await rest, working.Elapsed);
    }
}
