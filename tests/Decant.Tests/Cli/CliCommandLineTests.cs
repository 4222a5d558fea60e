using System.Text.Json;
using Decant.Sources;
using Decant.Tests.Support;
using static Decant.Tests.Cli.CliProcess;

namespace Decant.Tests.Cli;

/// <summary>
/// The command line itself: parse errors, options that do not fit the format, standard output and
/// terminals, JSON-only stderr, --force that keeps the old output on failure, parent directories,
/// and the help text.
/// </summary>
public class CliCommandLineTests
{
    public static TheoryData<string[]> MalformedCommandLines => new()
    {
        { ["export", "IMAGE", "-o", "out", "--bogus"] },
        { ["export", "IMAGE", "-o", "out", "--format", "zip"] },
        { ["export", "IMAGE"] },
        { ["export", "-o", "out"] },
        { ["export", "IMAGE", "-o", "out", "--jobs", "many"] },
    };

    [Theory]
    [MemberData(nameof(MalformedCommandLines))]
    public async Task AParseErrorIsExitTwoWithOneLineAndAHintNotTheHelp(string[] arguments)
    {
        using var scratch = new ScratchDirectory();
        var result = await RunAsync(arguments.Select(a => a == "IMAGE" ? SampleImage : a), workingDirectory: scratch.Path);
        Assert.Equal(2, result.ExitCode);
        var lines = result.StandardError.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        Assert.StartsWith("decant: error: ", lines[0], StringComparison.Ordinal);
        Assert.Equal("Run 'decant export --help' for usage.", lines[1]);
        Assert.Empty(result.StandardOutput);
        Assert.Empty(Directory.GetFileSystemEntries(scratch.Path));
    }

    [Fact]
    public async Task AParseErrorWithJsonProgressIsOneJsonErrorEvent()
    {
        var result = await RunAsync(["export", SampleImage, "-o", "/nonexistent/out", "--progress", "json", "--bogus"]);
        Assert.Equal(2, result.ExitCode);
        using var error = JsonDocument.Parse(result.StandardError.Trim());
        Assert.Equal("error", error.RootElement.GetProperty("event").GetString());
        Assert.Equal(2, error.RootElement.GetProperty("exitCode").GetInt32());
        Assert.Contains("--bogus", error.RootElement.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AFailureWithJsonProgressKeepsStandardErrorJsonOnly()
    {
        using var scratch = new ScratchDirectory();
        var result = await RunAsync(["export", CorruptImage(scratch.Combine("image")), "-o", scratch.Combine("out"), "--progress", "json"]);
        Assert.Equal(6, result.ExitCode);
        var lines = result.StandardError.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.NotEmpty(lines);
        foreach (string line in lines)
        {
            using var _ = JsonDocument.Parse(line); // throws on the plain "decant: error:" line this used to add
        }
        using var last = JsonDocument.Parse(lines[^1]);
        Assert.Equal("error", last.RootElement.GetProperty("event").GetString());
        Assert.Equal(6, last.RootElement.GetProperty("exitCode").GetInt32());
    }

    public static TheoryData<string[], string> OptionsThatDoNotApply => new()
    {
        { ["-o", "OUT/rootfs", "--size", "1G"], "--size does not apply to a directory output" },
        { ["-o", "OUT/rootfs.tar", "--free-space", "1M"], "--free-space does not apply to a tar output" },
        { ["-o", "OUT/rootfs", "--free-inodes", "10"], "--free-inodes does not apply to a directory output" },
        { ["-o", "OUT/rootfs.tar", "--no-journal"], "--no-journal does not apply to a tar output" },
        { ["-o", "OUT/rootfs.tar", "--bundle"], "--bundle does not apply to a tar output" },
        { ["-o", "OUT/rootfs.ext4", "--rootless"], "--rootless does not apply to an ext4 output" },
        { ["-o", "OUT/rootfs.ext4", "--erofs-compression", "lz4"], "--erofs-compression does not apply to an ext4 output" },
        { ["-o", "OUT/rootfs.erofs", "--size", "1G"], "--size does not apply to an EROFS output" },
        { ["-o", "OUT/rootfs.erofs", "--erofs-pcluster-size", "4K"], "an EROFS physical cluster of 4096 bytes is not a multiple of 4 KiB from 8192 to 1048576 bytes" },
        { ["-o", "OUT/rootfs", "--format", "tar", "--size", "1G"], "--size does not apply to a tar output" },
        { ["-o", "-", "--force"], "--force does not apply to -o -" },
    };

    [Theory]
    [MemberData(nameof(OptionsThatDoNotApply))]
    public async Task AnOptionThatDoesNotApplyToTheFormatIsAUsageError(string[] arguments, string message)
    {
        using var scratch = new ScratchDirectory();
        var result = await RunAsync(["export", SampleImage, .. arguments.Select(a => a.Replace("OUT", scratch.Path, StringComparison.Ordinal))]);
        AssertOneLineError(result, 2, message);
        Assert.Empty(Directory.GetFileSystemEntries(scratch.Path));
    }

    [Theory]
    [InlineData("ext4", "random access")]
    [InlineData("erofs", "random access")]
    [InlineData("dir", "a directory output needs a path")]
    public async Task StandardOutputIsRefusedForFormatsThatCannotStream(string format, string message)
    {
        using var scratch = new ScratchDirectory();
        var result = await RunAsync(["export", SampleImage, "-o", "-", "--format", format], workingDirectory: scratch.Path);
        AssertOneLineError(result, 2, message);
        Assert.Empty(result.StandardOutput);
        Assert.Empty(Directory.GetFileSystemEntries(scratch.Path)); // no file or directory named "-"
    }

    [Fact]
    public async Task ATarIsNotWrittenToATerminal()
    {
        using var scratch = new ScratchDirectory();
        using var terminal = StartInTerminal(["export", SampleImage, "-o", "-"], workingDirectory: scratch.Path);
        Assert.Equal(2, await terminal.WaitForExitAsync(TimeSpan.FromMinutes(2)));
        Assert.Contains("refusing to write a tar to a terminal", terminal.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("ustar", terminal.Output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("rootfs")]
    [InlineData("rootfs.tar")]
    [InlineData("rootfs.ext4")]
    public async Task EveryFormatCreatesMissingParentDirectories(string name)
    {
        using var scratch = new ScratchDirectory();
        string output = scratch.Combine("a", "b", name);
        var result = await RunAsync(["export", SampleImage, "-o", output, "--progress", "none"]);
        Assert.True(result.ExitCode == 0, result.StandardError);
        Assert.True(Path.Exists(output));
        Assert.Equal(["a", "a/b", $"a/b/{name}"], Listing(scratch.Path).Where(p => !p.StartsWith($"a/b/{name}/", StringComparison.Ordinal)));
    }

    [Theory]
    [InlineData("rootfs")]
    [InlineData("rootfs.tar")]
    [InlineData("rootfs.ext4")]
    public async Task AFailedExportRemovesTheParentDirectoriesItCreated(string name)
    {
        using var scratch = new ScratchDirectory();
        string reference = CorruptImage(scratch.Combine("image"));
        var result = await RunAsync(["export", reference, "-o", scratch.Combine("a", "b", name), "--progress", "none"]);
        AssertOneLineError(result, 6, "sha256:");
        Assert.Equal(["image"], Directory.GetFileSystemEntries(scratch.Path).Select(Path.GetFileName));
    }

    [Fact]
    public async Task AFailedBundleExportRemovesTheParentDirectoriesItCreated()
    {
        using var scratch = new ScratchDirectory();
        string reference = CorruptImage(scratch.Combine("image"));
        var result = await RunAsync(["export", reference, "-o", scratch.Combine("a", "b", "bundle"), "--bundle", "--progress", "none"]);
        AssertOneLineError(result, 6, "sha256:");
        Assert.Equal(["image"], Directory.GetFileSystemEntries(scratch.Path).Select(Path.GetFileName));
    }

    [Theory]
    [InlineData("rootfs")]
    [InlineData("rootfs.tar")]
    [InlineData("rootfs.ext4")]
    public async Task AFailedForcedExportLeavesTheOldOutputAsItWas(string name)
    {
        using var scratch = new ScratchDirectory();
        string reference = CorruptImage(scratch.Combine("image"));
        string parent = scratch.Combine("parent");
        string output = Path.Combine(parent, name);
        Assert.Equal(0, (await RunAsync(["export", SampleImage, "-o", output, "--progress", "none"])).ExitCode);
        var before = Listing(parent);
        byte[]? fileBefore = File.Exists(output) ? File.ReadAllBytes(output) : null;

        var result = await RunAsync(["export", reference, "-o", output, "--force", "--progress", "none"]);
        AssertOneLineError(result, 6, "sha256:");
        Assert.Equal(before, Listing(parent)); // the old output whole, and nothing beside it
        if (fileBefore is not null)
        {
            Assert.Equal(fileBefore, File.ReadAllBytes(output));
        }
        else
        {
            Assert.True(File.Exists(Path.Combine(output, "bin", "busybox")));
        }
    }

    [Fact]
    public async Task AForcedExportReplacesANonEmptyDirectoryAndLeavesNothingBeside()
    {
        using var scratch = new ScratchDirectory();
        string output = scratch.Combine("out");
        Directory.CreateDirectory(Path.Combine(output, "old"));
        File.WriteAllText(Path.Combine(output, "old", "file"), "old");
        var result = await RunAsync(["export", SampleImage, "-o", output, "--force", "--progress", "none"]);
        Assert.True(result.ExitCode == 0, result.StandardError);
        Assert.False(Path.Exists(Path.Combine(output, "old")));
        Assert.True(File.Exists(Path.Combine(output, "bin", "busybox")));
        Assert.Equal(["out"], Directory.GetFileSystemEntries(scratch.Path).Select(Path.GetFileName));
    }

    [Fact]
    public async Task ForceWhereTheParentIsNotWritableReplacesTheContentsInPlace()
    {
        // nobody owns the target but not its parent, so no new tree can be built beside it.
        using var scratch = new ScratchDirectory();
        string home = scratch.Combine("home");
        string output = scratch.Combine("parent", "out");
        Directory.CreateDirectory(home);
        Directory.CreateDirectory(output);
        File.WriteAllText(Path.Combine(output, "old"), "old");
        await Tools.RunCheckedAsync("chmod", ["755", scratch.Path], CancellationToken.None);
        await Tools.RunCheckedAsync("chown", ["-R", "65534:65534", home, output], CancellationToken.None);
        var result = await Tools.RunAsync("setpriv",
            ["--reuid=65534", "--regid=65534", "--clear-groups", "--", "env", "-i", "PATH=" + System.Environment.GetEnvironmentVariable("PATH"), "HOME=" + home, "DOTNET_CLI_HOME=" + home,
             .. System.Environment.GetEnvironmentVariable("DOTNET_ROOT") is { Length: > 0 } root ? ["DOTNET_ROOT=" + root] : Array.Empty<string>(),
             "dotnet", CliProcess.Decant, "export", SampleImage, "-o", output, "--force", "--progress", "none"], CancellationToken.None);
        Assert.True(result.ExitCode == 0, result.StandardError);
        Assert.False(File.Exists(Path.Combine(output, "old")));
        Assert.True(File.Exists(Path.Combine(output, "bin", "busybox")));
        Assert.Equal(["out"], Directory.GetFileSystemEntries(scratch.Combine("parent")).Select(Path.GetFileName));
    }

    [Fact]
    public async Task ForceThroughASymlinkReplacesTheDirectoryItPointsToAndKeepsTheLink()
    {
        using var scratch = new ScratchDirectory();
        string real = scratch.Combine("real");
        Directory.CreateDirectory(real);
        File.WriteAllText(Path.Combine(real, "stale"), "old");
        File.CreateSymbolicLink(scratch.Combine("link"), "real");
        var result = await RunAsync(["export", SampleImage, "-o", scratch.Combine("link"), "--force", "--progress", "none"]);
        Assert.True(result.ExitCode == 0, result.StandardError);
        Assert.Equal("real", new FileInfo(scratch.Combine("link")).LinkTarget);
        Assert.True(File.Exists(Path.Combine(real, "bin", "busybox")));
        Assert.False(File.Exists(Path.Combine(real, "stale")));
        Assert.Equal(["link", "real"], Directory.GetFileSystemEntries(scratch.Path).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task ReplacedContentThatCannotBeRemovedIsAWarningNamingWhereItIs()
    {
        using var scratch = new ScratchDirectory();
        string output = scratch.Combine("out");
        Directory.CreateDirectory(output);
        string stuck = Path.Combine(output, "immutable");
        File.WriteAllText(stuck, "old");
        await Tools.RunCheckedAsync("chattr", ["+i", stuck], CancellationToken.None);
        try
        {
            var result = await RunAsync(["export", SampleImage, "-o", output, "--force", "--progress", "plain"]);
            Assert.True(result.ExitCode == 0, result.StandardError);
            Assert.True(File.Exists(Path.Combine(output, "bin", "busybox")));
            var warning = Assert.Single(result.StandardError.Split('\n'), l => l.StartsWith("decant: warning: ", StringComparison.Ordinal));
            string leftOver = Assert.Single(Directory.GetDirectories(scratch.Path, ".out.decant-*"));
            Assert.Contains(leftOver, warning, StringComparison.Ordinal);
            Assert.True(File.Exists(Path.Combine(leftOver, "immutable")));
        }
        finally
        {
            foreach (string file in Directory.EnumerateFiles(scratch.Path, "immutable", SearchOption.AllDirectories))
            {
                await Tools.RunCheckedAsync("chattr", ["-i", file], CancellationToken.None);
            }
        }
    }

    [Fact]
    public async Task HelpShowsDefaultsAndGroupsTheExportOptions()
    {
        var result = await RunAsync(["export", "--help"]);
        Assert.Equal(0, result.ExitCode);
        string help = result.StandardOutput;
        string[] headings = ["Output options:", "ext4 output options:", "Image options:", "Registry options:", "Limit options:", "Progress options:", "Other options:"];
        var positions = headings.Select(h => help.IndexOf("\n" + h + "\n", StringComparison.Ordinal)).ToList();
        Assert.DoesNotContain(-1, positions);
        Assert.Equal(positions.Order(), positions);
        Assert.DoesNotContain("\nOptions:\n", help, StringComparison.Ordinal);
        Assert.Contains("[default: 64M]", help, StringComparison.Ordinal);
        Assert.Contains("[default: 8192]", help, StringComparison.Ordinal);
        Assert.Contains("[default: 64G]", help, StringComparison.Ordinal);
        Assert.Contains("[default: 2G]", help, StringComparison.Ordinal);
        Assert.Contains("[default: auto]", help, StringComparison.Ordinal);
        Assert.Contains("[default: 60]", help, StringComparison.Ordinal);
        // --retries has one default, the library's.
        string retries = Assert.Single(help.Split('\n'), l => l.TrimStart().StartsWith("--retries", StringComparison.Ordinal));
        Assert.EndsWith($"[default: {SourceOptions.DefaultMaxRetries}]", retries.TrimEnd(), StringComparison.Ordinal);
        Assert.Equal(SourceOptions.DefaultMaxRetries, SourceOptions.Default.MaxRetries);
        // Every option once, in exactly one group.
        foreach (string option in new[] { "--output", "--format", "--size", "--platform", "--creds", "--password-stdin", "--retries", "--jobs", "--progress", "--help" })
        {
            Assert.Single(help.Split('\n'), l => l.TrimStart().Split("  ")[0].Split([' ', ','], StringSplitOptions.RemoveEmptyEntries).Contains(option));
        }
    }

    [Fact]
    public async Task ShellCompletionSuggestsOptionsAndValuesThroughTheSuggestDirective()
    {
        // What dotnet-suggest's shell shims send: [suggest:CURSOR] and the whole command line.
        var options = await RunAsync(["[suggest:19]", "decant export --for"]);
        Assert.Equal(0, options.ExitCode);
        Assert.Equal(["--force", "--format"], options.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        var values = await RunAsync(["[suggest:23]", "decant export --format "]);
        Assert.Equal(["dir", "erofs", "ext4", "tar"], values.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
    }
}
