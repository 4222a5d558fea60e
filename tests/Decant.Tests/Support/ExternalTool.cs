using System.ComponentModel;
using System.Diagnostics;

namespace Decant.Tests.Support;

/// <summary>
/// Runs the external tools tests build fixtures with (umoci, skopeo, …). A missing tool is a test
/// failure with an install hint, never a silent skip.
/// </summary>
internal static class ExternalTool
{
    /// <summary>Runs <paramref name="file"/> with <paramref name="args"/>; returns its stdout, or throws with its stderr on a non-zero exit.</summary>
    public static async Task<string> RunAsync(string file, params string[] args)
    {
        var start = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        Process process;
        try
        {
            process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {file}");
        }
        catch (Win32Exception error)
        {
            throw new InvalidOperationException($"{file} is not installed; install it with: apt-get install -y {file}", error);
        }

        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync();
            string output = await stdout;
            string errors = await stderr;
            if (process.ExitCode != 0)
            {
                throw new InvalidOperationException($"{file} {string.Join(' ', args)} exited with {process.ExitCode}: {errors.Trim()}");
            }
            return output;
        }
    }
}
