using System.ComponentModel;
using System.Diagnostics;
using System.Text.Json;
using Decant.Model;

namespace Decant.Sources.Registry;

/// <summary>
/// Runs a Docker credential helper, <c>docker-credential-NAME get</c>, with the server on stdin and
/// reads <c>{"Username","Secret"}</c> from stdout. A user name of <c>&lt;token&gt;</c> means the
/// secret is an identity token.
/// </summary>
internal static class CredentialHelper
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    /// <summary>The credentials the helper holds for <paramref name="serverUrl"/>, or null when it has none.</summary>
    /// <param name="helper">The helper's NAME.</param>
    /// <param name="serverUrl">The server to ask about, written to the helper's stdin.</param>
    /// <param name="origin">Where the helper was named, for messages.</param>
    /// <param name="environment">Reads <c>PATH</c>, which the helper is searched on.</param>
    /// <param name="cancellationToken">Stops the helper.</param>
    public static async Task<RegistryCredential?> GetAsync(string helper, string serverUrl, string origin, Func<string, string?> environment, CancellationToken cancellationToken)
    {
        string program = "docker-credential-" + helper;
        string executable = FindOnPath(program, environment("PATH"))
            ?? throw new DecantException(DecantErrorKind.Unauthorized, $"credential helper {program} (named in {origin}) is not installed (not found on PATH)");
        var start = new ProcessStartInfo(executable)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add("get");
        Process process;
        try
        {
            process = Process.Start(start) ?? throw new DecantException(DecantErrorKind.Unauthorized, $"could not start credential helper {program} (named in {origin})");
        }
        catch (Win32Exception error)
        {
            throw new DecantException(DecantErrorKind.Unauthorized, $"credential helper {program} (named in {origin}) is not installed or not executable: {error.Message}", error);
        }
        using (process)
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(Timeout);
            try
            {
                await process.StandardInput.WriteAsync(serverUrl.AsMemory(), timeout.Token).ConfigureAwait(false);
                process.StandardInput.Close();
                var output = process.StandardOutput.ReadToEndAsync(timeout.Token);
                var errors = process.StandardError.ReadToEndAsync(timeout.Token);
                await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
                string stdout = await output.ConfigureAwait(false);
                string stderr = await errors.ConfigureAwait(false);
                if (process.ExitCode != 0)
                {
                    if ((stdout + stderr).Contains("credentials not found", StringComparison.OrdinalIgnoreCase))
                    {
                        return null;
                    }
                    throw new DecantException(DecantErrorKind.Unauthorized, $"credential helper {program} (named in {origin}) failed with exit code {process.ExitCode}: {FirstLine(stderr + stdout)}");
                }
                return Parse(stdout, $"{program} (named in {origin})");
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                process.Kill(entireProcessTree: true);
                throw new DecantException(DecantErrorKind.Unauthorized, $"credential helper {program} (named in {origin}) did not answer within {Timeout.TotalSeconds:0} s");
            }
        }
    }

    private static RegistryCredential? Parse(string stdout, string source)
    {
        CredentialHelperOutput? output;
        try
        {
            output = JsonSerializer.Deserialize(stdout, RegistryJsonContext.Default.CredentialHelperOutput);
        }
        catch (JsonException error)
        {
            throw new DecantException(DecantErrorKind.Unauthorized, $"credential helper {source} printed something that is not its JSON answer: {error.Message}", error);
        }
        if (output is null || string.IsNullOrEmpty(output.Secret))
        {
            return null;
        }
        return output.Username == "<token>"
            ? new RegistryCredential("<token>", "", output.Secret, source)
            : new RegistryCredential(output.Username ?? "", output.Secret, null, source);
    }

    private static string? FindOnPath(string program, string? path)
    {
        foreach (string directory in (path ?? "/usr/local/bin:/usr/bin:/bin").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = Path.Combine(directory, program);
            if (File.Exists(candidate) && (OperatingSystem.IsWindows() || (File.GetUnixFileMode(candidate) & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) != 0))
            {
                return candidate;
            }
        }
        return null;
    }

    private static string FirstLine(string text) =>
        text.Trim().Split('\n', 2)[0].Trim();
}
