using System.CommandLine;
using Decant.Export;
using Decant.Model;

namespace Decant.Cli;

/// <summary>
/// Turns failures into one line on stderr and an exit code (documented in the README). With
/// <c>--progress json</c>, stderr carries JSON only: errors and warnings are events there too.
/// </summary>
internal static class CommandErrors
{
    public static async Task<int> RunAsync(ProgressMode mode, string command, Func<Task<int>> action, CancellationToken cancellationToken)
    {
        int Fail(string message, int exitCode)
        {
            if (mode == ProgressMode.Json)
            {
                ProgressReporter.WriteJsonError(message, exitCode);
                return exitCode;
            }
            Console.Error.WriteLine("decant: error: " + message);
            if (exitCode == ExitCodes.Usage)
            {
                Console.Error.WriteLine(Hint(command));
            }
            return exitCode;
        }

        try
        {
            return await action().ConfigureAwait(false);
        }
#pragma warning disable CA1031 // The last line of defence: a bug must still end in one clear line and a non-zero exit.
        catch (Exception error)
#pragma warning restore CA1031
        {
            var leftOver = ImageExporter.CleanupFailureOf(error);
            if (leftOver is not null)
            {
                Warn(mode, leftOver.Describe());
            }
            bool debug = Environment.GetEnvironmentVariable("DECANT_DEBUG") == "1";
            return error switch
            {
                DecantException e => Fail(ExitCodes.Describe(e), ExitCodes.For(e.Kind)),
                OperationCanceledException when cancellationToken.IsCancellationRequested =>
                    Fail(leftOver is null ? "cancelled; partial output removed" : "cancelled", ExitCodes.Cancelled),
                UnauthorizedAccessException e => Fail(e.Message, ExitCodes.For(DecantErrorKind.OutputError)),
                IOException e => Fail(e.Message, ExitCodes.For(DecantErrorKind.IOError)),
                _ => Fail($"internal error ({error.GetType().Name}): {error.Message}" + (debug ? Environment.NewLine + error : " (set DECANT_DEBUG=1 for details)"), ExitCodes.Internal),
            };
        }
    }

    /// <summary>A problem that does not fail the run (such as output that could not be cleaned up): one line, or a JSON event.</summary>
    public static void Warn(ProgressMode mode, string message)
    {
        if (mode == ProgressMode.Json)
        {
            ProgressReporter.WriteJsonWarning(message);
        }
        else
        {
            Console.Error.WriteLine("decant: warning: " + message);
        }
    }

    /// <summary>
    /// A command line that does not parse: the errors on one line and a hint where help is, exit 2
    /// (not the full help). JSON when the command line asked for <c>--progress json</c>.
    /// </summary>
    public static int ReportParseErrors(ParseResult parse, IReadOnlyList<string> args)
    {
        string message = string.Join(" ", parse.Errors.Select(e => string.Join(' ', e.Message.Split(['\r', '\n', '\t'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))));
        string name = FullName(parse.CommandResult.Command);
        bool json = args.Select((a, i) => a is "--progress=json" or "--progress:json" || (a == "--progress" && i + 1 < args.Count && args[i + 1] == "json")).Any(b => b);
        if (json)
        {
            ProgressReporter.WriteJsonError(message, ExitCodes.Usage);
        }
        else
        {
            Console.Error.WriteLine("decant: error: " + message);
            Console.Error.WriteLine(Hint(name));
        }
        return ExitCodes.Usage;
    }

    /// <summary>How the user typed <paramref name="command"/>: <c>decant</c> for the root, else its parents' names and its own (<c>decant cache prune</c>).</summary>
    private static string FullName(Command command) =>
        command.Parents.OfType<Command>().FirstOrDefault() is { } parent ? FullName(parent) + " " + command.Name : "decant";

    private static string Hint(string command) => $"Run '{command} --help' for usage.";
}
