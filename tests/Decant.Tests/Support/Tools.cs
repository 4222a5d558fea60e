using System.Diagnostics;

namespace Decant.Tests.Support;

/// <summary>What an external program did: its exit code and everything it printed.</summary>
public sealed record ToolResult(string CommandLine, int ExitCode, string StandardOutput, string StandardError)
{
    /// <summary>Throws, quoting the command and its stderr, unless the program exited with 0.</summary>
    public ToolResult EnsureSuccess() => ExitCode == 0
        ? this
        : throw new InvalidOperationException($"`{CommandLine}` exited with {ExitCode}:\n{StandardError}{StandardOutput}");
}

/// <summary>Runs the real tools (umoci, skopeo, tar, bash scripts) that the differential tests compare against.</summary>
public static class Tools
{
    /// <summary>Runs a program with arguments passed as-is (no shell) and captures its output.</summary>
    public static async Task<ToolResult> RunAsync(string fileName, IEnumerable<string> arguments, CancellationToken cancellationToken, string? workingDirectory = null)
    {
        var start = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? "",
        };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        string commandLine = string.Join(' ', start.ArgumentList.Prepend(fileName).Select(Quote));
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start `{commandLine}`");
        process.StandardInput.Close();
        try
        {
            var output = process.StandardOutput.ReadToEndAsync(cancellationToken);
            var error = process.StandardError.ReadToEndAsync(cancellationToken);
            await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
            return new ToolResult(commandLine, process.ExitCode, await output.ConfigureAwait(false), await error.ConfigureAwait(false));
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }
    }

    /// <summary>Runs a program and throws with its stderr unless it succeeds.</summary>
    public static async Task<ToolResult> RunCheckedAsync(string fileName, IEnumerable<string> arguments, CancellationToken cancellationToken, string? workingDirectory = null) =>
        (await RunAsync(fileName, arguments, cancellationToken, workingDirectory).ConfigureAwait(false)).EnsureSuccess();

    private static string Quote(string argument) =>
        argument.Length > 0 && argument.All(c => char.IsAsciiLetterOrDigit(c) || "-_./:=@+,".Contains(c, StringComparison.Ordinal))
            ? argument
            : "'" + argument.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}
