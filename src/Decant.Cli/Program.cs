using System.CommandLine;
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
        };
        return await root.Parse(args).InvokeAsync().ConfigureAwait(false);
    }
}
