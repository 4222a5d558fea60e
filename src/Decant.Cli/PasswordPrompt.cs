using System.Text;
using Decant.Cli.Commands;

namespace Decant.Cli;

/// <summary>Where the password for <c>--creds USER</c> comes from when it is not in the command line.</summary>
internal static class PasswordPrompt
{
    /// <summary>All of standard input, less its trailing line break (as <c>docker login --password-stdin</c> reads it).</summary>
    public static async Task<string> ReadStandardInputAsync(CancellationToken cancellationToken)
    {
        using var reader = new StreamReader(Console.OpenStandardInput(), new UTF8Encoding(false));
        string password = (await reader.ReadToEndAsync(cancellationToken).ConfigureAwait(false)).TrimEnd('\r', '\n');
        return password.Length > 0 ? password : throw SharedOptions.Usage("--password-stdin: standard input held no password");
    }

    /// <summary>Asks for the password on the terminal (stdin and stderr), without echoing it.</summary>
    public static async Task<string> AskAsync(string user, ProgressMode mode, CancellationToken cancellationToken)
    {
        if (Console.IsInputRedirected || Console.IsErrorRedirected || mode == ProgressMode.Json)
        {
            throw SharedOptions.Usage($"--creds {user} has no password and there is no terminal to ask on; use --password-stdin or --creds USER:PASSWORD");
        }
        // Echo goes off before the prompt is shown, so keys typed ahead of it are not shown either; the
        // runtime sets up the terminal the first time the console is used, so that comes first.
        await Console.Error.FlushAsync(cancellationToken).ConfigureAwait(false);
        _ = Console.KeyAvailable;
        using var echoOff = TerminalEcho.Off();
        await Console.Error.WriteAsync($"Password for {user}: ").ConfigureAwait(false);
        try
        {
            // The read blocks; it runs on its own thread so Ctrl-C (the cancellation token) still ends the run.
            string password = await Task.Run(TerminalEcho.ReadLine, cancellationToken).WaitAsync(cancellationToken).ConfigureAwait(false);
            return password.Length > 0 ? password : throw SharedOptions.Usage("no password given");
        }
        finally
        {
            await Console.Error.WriteLineAsync().ConfigureAwait(false);
        }
    }
}
