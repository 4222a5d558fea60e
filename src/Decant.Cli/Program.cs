using System.CommandLine;
using System.CommandLine.Invocation;
using System.Runtime.InteropServices;
using Decant.Cli.Commands;

namespace Decant.Cli;

internal static class Program
{
    private static async Task<int> Main(string[] args)
    {
        var root = new RootCommand("decant: turn OCI and Docker container images into root filesystems, without Docker or root.")
        {
            ExportCommand.Create(),
            InspectCommand.Create(),
            CacheCommand.Create(),
        };
        HelpLayout.Install(root);
        // Ctrl-C or SIGTERM cancels the run, which removes its partial output; a second Ctrl-C ends it at once.
        using var cancel = new CancellationTokenSource();
        void OnSignal(PosixSignalContext context)
        {
            context.Cancel = !cancel.IsCancellationRequested;
            cancel.Cancel();
        }
        using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        using var terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        var invocation = new InvocationConfiguration { ProcessTerminationTimeout = null };
        var parse = root.Parse(args);
        // A command line that does not parse: one error line and a hint, exit 2 (not the full help).
        int exitCode = parse.Action is ParseErrorAction
            ? CommandErrors.ReportParseErrors(parse, args)
            : await parse.InvokeAsync(invocation, cancel.Token).ConfigureAwait(false);
        if (Environment.GetEnvironmentVariable("DECANT_DEBUG") == "1")
        {
            var gc = GC.GetGCMemoryInfo();
            Console.Error.WriteLine($"debug: heap {gc.HeapSizeBytes >> 10} KiB, committed {gc.TotalCommittedBytes >> 10} KiB, peak working set {System.Diagnostics.Process.GetCurrentProcess().PeakWorkingSet64 >> 10} KiB, gen0 collections {GC.CollectionCount(0)}, allocated {GC.GetTotalAllocatedBytes() >> 10} KiB");
        }
        return exitCode;
    }
}
