using System.Diagnostics;
using System.Globalization;
using System.Text;
using Decant.Tests.Support;

namespace Decant.Tests.Cli;

/// <summary>
/// Runs the built <c>decant</c> as users do: with pipes, with text on stdin, or inside a terminal
/// (a pty made by util-linux <c>script</c>, which must be installed). Children start with SIGINT
/// at its default disposition (<c>env --default-signal=INT</c>), whatever the test host inherited:
/// a suite started as a background job has SIGINT ignored, and an ignored SIGINT stays ignored.
/// </summary>
internal static class CliProcess
{
    public static readonly string Decant = Path.Combine(AppContext.BaseDirectory, "decant.dll");

    public static string SampleImage => "oci:" + Path.Combine(RealImages.FindRepositoryRoot(), "samples", "busybox") + ":latest";

    /// <summary>The command line that starts decant with SIGINT reset to its default and an empty layer cache of its own (unless the arguments name one).</summary>
    public static string[] Command(IEnumerable<string> arguments)
    {
        string[] given = [.. arguments];
        string[] cache = given.Contains("--cache") || given.Contains("--no-cache") ? [] : ["DECANT_CACHE=" + TestCaches.Fresh()];
        return ["env", "--default-signal=INT", .. cache, "dotnet", Decant, .. given];
    }

    /// <summary>Runs decant with <paramref name="standardInput"/> on stdin (closed at its end) and captures stdout and stderr.</summary>
    public static async Task<ToolResult> RunAsync(IEnumerable<string> arguments, string standardInput = "", string? workingDirectory = null, IReadOnlyDictionary<string, string?>? environment = null)
    {
        var command = Command(arguments);
        var start = Start(command, workingDirectory, environment);
        using var process = Process.Start(start) ?? throw new InvalidOperationException("could not start decant");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.StandardInput.WriteAsync(standardInput);
        process.StandardInput.Close();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        await process.WaitForExitAsync(timeout.Token);
        return new ToolResult(string.Join(' ', command), process.ExitCode, await output, await error);
    }

    /// <summary>
    /// Decant inside a terminal: stdin, stdout and stderr are a pty. What it prints arrives on
    /// <see cref="TerminalSession.Output"/>; keys typed go through the pty's line discipline (so
    /// \x03 is Ctrl-C, delivered as SIGINT).
    /// </summary>
    public static TerminalSession StartInTerminal(IEnumerable<string> arguments, string? workingDirectory = null, IReadOnlyDictionary<string, string?>? environment = null)
    {
        string shellCommand = string.Join(' ', Command(arguments).Select(Quote));
        // -q: no banner; -e: exit with the child's status; -f: flush output as it comes.
        var start = Start(["script", "-qef", "-c", shellCommand, "/dev/null"], workingDirectory, environment);
        start.Environment["TERM"] = "xterm";
        return new TerminalSession(Process.Start(start) ?? throw new InvalidOperationException("could not start script (util-linux)"));
    }

    private static ProcessStartInfo Start(string[] command, string? workingDirectory, IReadOnlyDictionary<string, string?>? environment)
    {
        var start = new ProcessStartInfo(command[0])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? "",
        };
        foreach (string argument in command.Skip(1))
        {
            start.ArgumentList.Add(argument);
        }
        foreach (var (name, value) in environment ?? new Dictionary<string, string?>())
        {
            if (value is null)
            {
                start.Environment.Remove(name);
            }
            else
            {
                start.Environment[name] = value;
            }
        }
        return start;
    }

    private static string Quote(string argument) => "'" + argument.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    /// <summary>Asserts the run failed with <paramref name="exitCode"/>, one <c>decant: error:</c> line holding <paramref name="text"/>, and no stack trace.</summary>
    public static void AssertOneLineError(ToolResult result, int exitCode, string text)
    {
        Assert.True(exitCode == result.ExitCode, $"exit {result.ExitCode}, expected {exitCode}; stderr:\n{result.StandardError}");
        var errors = result.StandardError.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => l.StartsWith("decant: error:", StringComparison.Ordinal)).ToList();
        Assert.Single(errors);
        Assert.Contains(text, errors[0], StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.StandardError, StringComparison.Ordinal);
        Assert.DoesNotContain("Exception", result.StandardError, StringComparison.Ordinal);
    }

    /// <summary>A one-layer image whose layer blob is corrupted near its end, so an export fails (exit 6) after it has started writing.</summary>
    public static string CorruptImage(string layout)
    {
        string reference = SyntheticImage.WriteLayout(layout, [new LayerTar().File("a", new string('a', 5000)).ToArray()]);
        string blob = Directory.GetFiles(Path.Combine(layout, "blobs", "sha256")).Single(f => new FileInfo(f).Length > 40 && File.ReadAllBytes(f)[0] == 0x1F);
        byte[] bytes = File.ReadAllBytes(blob);
        bytes[^10] ^= 0xFF;
        File.WriteAllBytes(blob, bytes);
        return reference;
    }

    /// <summary>Every name under <paramref name="directory"/> (relative, recursive, hidden ones included), sorted.</summary>
    public static List<string> Listing(string directory) =>
        [.. Directory.EnumerateFileSystemEntries(directory, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 })
            .Select(p => Path.GetRelativePath(directory, p)).Order(StringComparer.Ordinal)];

    public static string Pid(Process process) => process.Id.ToString(CultureInfo.InvariantCulture);
}

/// <summary>A decant run inside a pty (see <see cref="CliProcess.StartInTerminal"/>).</summary>
internal sealed class TerminalSession : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly Lock _gate = new();
    private readonly Task _reader;

    public TerminalSession(Process process)
    {
        _process = process;
        _reader = Task.Run(async () =>
        {
            var buffer = new char[4096];
            int read;
            while ((read = await process.StandardOutput.ReadAsync(buffer)) > 0)
            {
                lock (_gate)
                {
                    _output.Append(buffer, 0, read);
                }
            }
        });
    }

    /// <summary>Everything the terminal showed so far.</summary>
    public string Output
    {
        get
        {
            lock (_gate)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>Waits until the terminal shows <paramref name="text"/>.</summary>
    public async Task WaitForAsync(string text, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!Output.Contains(text, StringComparison.Ordinal))
        {
            if (_process.HasExited && _reader.IsCompleted)
            {
                throw new InvalidOperationException($"decant exited ({_process.ExitCode}) before the terminal showed \"{text}\":\n{Output}");
            }
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"the terminal did not show \"{text}\" within {timeout}:\n{Output}");
            }
            await Task.Delay(50);
        }
    }

    /// <summary>Types <paramref name="keys"/> on the terminal.</summary>
    public async Task TypeAsync(string keys)
    {
        await _process.StandardInput.WriteAsync(keys);
        await _process.StandardInput.FlushAsync();
    }

    /// <summary>Waits for decant (and the pty around it) to end and returns its exit code.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cancel.Token);
        await _reader.WaitAsync(cancel.Token);
        return _process.ExitCode;
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }
        _process.Dispose();
    }
}
