using Decant.Export;
using Spectre.Console;

namespace Decant.Cli;

/// <summary>Live progress bars on a terminal (stderr): one bar per layer and one for the whole image.</summary>
internal sealed class TerminalProgress : IProgress<ExportProgress>
{
    private readonly Lock _gate = new();
    private ProgressContext? _context;
    private ProgressTask? _total;
    private ProgressTask[] _layers = [];

    /// <summary>Runs <paramref name="export"/> while drawing its progress.</summary>
    public static async Task<ExportResult> RunAsync(Func<IProgress<ExportProgress>, Task<ExportResult>> export)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        var reporter = new TerminalProgress();
        return await console.Progress()
            .AutoClear(false)
            .HideCompleted(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new DownloadedColumn(), new TransferSpeedColumn(), new RemainingTimeColumn())
            .StartAsync(async context =>
            {
                lock (reporter._gate)
                {
                    reporter._context = context;
                }
                return await export(reporter).ConfigureAwait(false);
            }).ConfigureAwait(false);
    }

    public void Report(ExportProgress value)
    {
        lock (_gate)
        {
            if (_context is null || value.Layers.Count == 0)
            {
                return;
            }
            if (_total is null)
            {
                _total = _context.AddTask("[bold]image[/]", maxValue: Math.Max(1, value.TotalBytes));
                _layers = [.. value.Layers.Select(l => _context.AddTask(Label(l), maxValue: Math.Max(1, l.Size)))];
            }
            _total.Value = value.BytesRead;
            _total.Description = value.Stage switch
            {
                ExportStage.Writing => "[bold]image[/] writing output",
                ExportStage.Done => "[bold]image[/] done",
                _ => $"[bold]image[/] {value.LayersDone}/{value.Layers.Count} layers",
            };
            foreach (var layer in value.Layers)
            {
                var task = _layers[layer.Index];
                task.Value = layer.BytesRead;
                task.Description = Label(layer);
            }
        }
    }

    private static string Label(LayerProgress layer) =>
        Markup.Escape($"{ProgressReporter.Short(layer.Digest)} {ProgressReporter.Describe(layer.State),-11}");
}
