using Decant.Errors;

namespace Decant.Cli;

/// <summary>Turns failures into one line on stderr and an exit code (documented in the README).</summary>
internal static class CommandErrors
{
    public static async Task<int> RunAsync(ProgressMode mode, Func<Task<int>> action, CancellationToken cancellationToken)
    {
        int Fail(string message, int exitCode)
        {
            if (mode == ProgressMode.Json)
            {
                ProgressReporter.WriteJsonError(message, exitCode);
            }
            Console.Error.WriteLine("decant: error: " + message);
            return exitCode;
        }

        try
        {
            return await action().ConfigureAwait(false);
        }
        catch (DecantException error)
        {
            return Fail(error.Describe(), (int)error.Kind);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return Fail("cancelled; partial output removed", (int)DecantErrorKind.Cancelled);
        }
        catch (UnauthorizedAccessException error)
        {
            return Fail(error.Message, (int)DecantErrorKind.OutputError);
        }
        catch (IOException error)
        {
            return Fail(error.Message, (int)DecantErrorKind.IOError);
        }
#pragma warning disable CA1031 // The last line of defence: a bug must still end in one clear line and a non-zero exit.
        catch (Exception error)
#pragma warning restore CA1031
        {
            bool debug = Environment.GetEnvironmentVariable("DECANT_DEBUG") == "1";
            return Fail($"internal error ({error.GetType().Name}): {error.Message}" + (debug ? Environment.NewLine + error : " (set DECANT_DEBUG=1 for details)"), 70);
        }
    }
}
