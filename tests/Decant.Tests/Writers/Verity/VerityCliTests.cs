using System.Text.Json;
using Decant.Tests.Support;
using Decant.Writers.Verity;
using static Decant.Tests.Cli.CliProcess;

namespace Decant.Tests.Writers.Verity;

/// <summary>
/// <c>decant export --verity</c>: the <c>--verity-out</c> file holds exactly what <c>veritysetup
/// verify</c> needs, the human and JSON summaries carry the same values, two exports are the same
/// bytes, and a bad <c>--verity-salt</c> or a verity option for a directory or tar output is a
/// usage error (exit 2, one line).
/// </summary>
public sealed class VerityCliTests : IDisposable
{
    private readonly ScratchDirectory _scratch = new();

    public void Dispose() => _scratch.Dispose();

    [Fact]
    public async Task VerityOutHoldsWhatVeritysetupVerifyNeedsAndTheSummariesAgree()
    {
        string image = _scratch.Combine("out", "rootfs.ext4"), json = _scratch.Combine("out", "verity.json");
        var result = await RunAsync(["export", SampleImage, "-o", image, "--verity-out", json, "--progress", "plain"]);
        Assert.True(result.ExitCode == 0, result.StandardError);
        using var document = JsonDocument.Parse(await File.ReadAllTextAsync(json));
        var root = document.RootElement;
        Assert.Equal(["rootHash", "hashOffset", "salt", "algorithm", "dataBlockSize", "hashBlockSize", "dataBlocks"], root.EnumerateObject().Select(p => p.Name));
        var verity = new VerityResult
        {
            RootHash = root.GetProperty("rootHash").GetString()!,
            HashOffset = root.GetProperty("hashOffset").GetInt64(),
            Salt = root.GetProperty("salt").GetString()!,
            Algorithm = root.GetProperty("algorithm").GetString()!,
            DataBlockSize = root.GetProperty("dataBlockSize").GetInt32(),
            HashBlockSize = root.GetProperty("hashBlockSize").GetInt32(),
            DataBlocks = root.GetProperty("dataBlocks").GetInt64(),
        };
        Assert.Equal((64, 64, "sha256", 4096, 4096), (verity.RootHash.Length, verity.Salt.Length, verity.Algorithm, verity.DataBlockSize, verity.HashBlockSize));
        Assert.Equal(verity.HashOffset, verity.DataBlocks * 4096);
        await Veritysetup.AssertVerifiesAsync(image, verity);
        Assert.Contains($"root hash {verity.RootHash}, hash offset {verity.HashOffset}, salt {verity.Salt}", result.StandardError, StringComparison.Ordinal);
        Assert.DoesNotContain(System.IO.Directory.GetFiles(_scratch.Combine("out")), f => Path.GetFileName(f).StartsWith('.')); // no temporary file left

        // The same export again, with the JSON summary: the same bytes and the same values.
        string again = _scratch.Combine("again.ext4");
        var second = await RunAsync(["export", SampleImage, "-o", again, "--verity", "--progress", "json"]);
        Assert.True(second.ExitCode == 0, second.StandardError);
        Assert.Equal(await Ext4VerityTests.HashFileAsync(image), await Ext4VerityTests.HashFileAsync(again));
        string summaryLine = second.StandardError.Split('\n').Single(l => l.Contains("\"event\":\"summary\"", StringComparison.Ordinal));
        using var summary = JsonDocument.Parse(summaryLine);
        Assert.Equal(Fields(root), Fields(summary.RootElement.GetProperty("verity")));
    }

    [Fact]
    public async Task AGivenSaltIsUsedAndAJsonSummaryWithoutVeritySaysNull()
    {
        string image = _scratch.Combine("salted.ext4");
        var result = await RunAsync(["export", SampleImage, "-o", image, "--verity-salt", "DecafBad", "--progress", "json"]);
        Assert.True(result.ExitCode == 0, result.StandardError);
        using var summary = JsonDocument.Parse(result.StandardError.Split('\n').Single(l => l.Contains("\"event\":\"summary\"", StringComparison.Ordinal)));
        Assert.Equal("decafbad", summary.RootElement.GetProperty("verity").GetProperty("salt").GetString());

        var plain = await RunAsync(["export", SampleImage, "-o", _scratch.Combine("plain.ext4"), "--progress", "json"]);
        using var plainSummary = JsonDocument.Parse(plain.StandardError.Split('\n').Single(l => l.Contains("\"event\":\"summary\"", StringComparison.Ordinal)));
        Assert.Equal(JsonValueKind.Null, plainSummary.RootElement.GetProperty("verity").ValueKind);
    }

    private static List<(string, string)> Fields(JsonElement json) => [.. json.EnumerateObject().Select(p => (p.Name, p.Value.GetRawText()))];

    public static TheoryData<string[], string> BadCommandLines => new()
    {
        { ["-o", "OUT/rootfs.ext4", "--verity-salt", "abc"], "--verity-salt must be an even number of hex digits (two per byte), not 3" },
        { ["-o", "OUT/rootfs.ext4", "--verity-salt", "00zz"], "--verity-salt must be hex digits (0-9, a-f), not \"00zz\"" },
        { ["-o", "OUT/rootfs.ext4", "--verity-salt", new string('a', 514)], "--verity-salt is 257 bytes; a dm-verity salt is at most 256" },
        { ["-o", "OUT/rootfs", "--verity"], "--verity does not apply to a directory output" },
        { ["-o", "OUT/rootfs.tar", "--verity-out", "OUT/verity.json"], "--verity-out does not apply to a tar output" },
        { ["-o", "OUT/rootfs.tar", "--verity-salt", "00"], "--verity-salt does not apply to a tar output" },
        { ["-o", "OUT/rootfs.ext4", "--verity-out", "/tmp"], "--verity-out \"/tmp\" is a directory; it needs a file name" },
    };

    [Theory]
    [MemberData(nameof(BadCommandLines))]
    public async Task ABadVerityOptionIsAUsageError(string[] arguments, string message)
    {
        var result = await RunAsync(["export", SampleImage, .. arguments.Select(a => a.Replace("OUT", _scratch.Path, StringComparison.Ordinal))]);
        AssertOneLineError(result, 2, message);
        Assert.Empty(System.IO.Directory.GetFileSystemEntries(_scratch.Path));
    }
}
