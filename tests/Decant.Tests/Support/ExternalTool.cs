using System.ComponentModel;

namespace Decant.Tests.Support;

/// <summary>
/// A short form of <see cref="Tools"/> for building fixtures: runs a tool, returns its stdout, and
/// fails (never skips) with an install hint when the tool is missing.
/// </summary>
internal static class ExternalTool
{
    /// <summary>Runs <paramref name="file"/> with <paramref name="args"/>; returns its stdout, or throws with its stderr on a non-zero exit.</summary>
    public static async Task<string> RunAsync(string file, params string[] args)
    {
        try
        {
            return (await Tools.RunCheckedAsync(file, args, CancellationToken.None)).StandardOutput;
        }
        catch (Win32Exception error)
        {
            throw new InvalidOperationException($"{file} is not installed; install it with: apt-get install -y {file} (or run scripts/install-test-tools.sh)", error);
        }
    }
}
