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
        await Console.Error.WriteAsync($"Password for {user}: ").ConfigureAwait(false);
        try
        {
            // Console.ReadKey blocks; it runs on its own thread so Ctrl-C (the cancellation token) still ends the run.
            string password = await Task.Run(ReadHidden, cancellationToken).WaitAsync(cancellationToken).ConfigureAwait(false);
            return password.Length > 0 ? password : throw SharedOptions.Usage("no password given");
        }
        finally
        {
            await Console.Error.WriteLineAsync().ConfigureAwait(false);
        }
    }

    private static string ReadHidden()
    {
        var password = new StringBuilder();
        while (true)
        {
            var key = Console.ReadKey(intercept: true);
            if (key.Key == ConsoleKey.Enter || key.KeyChar is '\r' or '\n')
            {
                return password.ToString();
            }
            if (key.Key == ConsoleKey.Backspace)
            {
                password.Length = Math.Max(0, password.Length - 1);
            }
            else if (!char.IsControl(key.KeyChar))
            {
                password.Append(key.KeyChar);
            }
        }
    }
}
