using System.Globalization;
using Decant.Export;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace Decant.Cli;

/// <summary>
/// Live progress bars on a terminal (stderr): one line for the whole image and one per layer, each
/// fitted to the terminal's width (the rate and sizes are left out before a line would wrap).
/// </summary>
internal sealed class TerminalProgress : IProgress<ExportProgress>
{
    private const int MinimumBar = 10;
    private const int MaximumBar = 40;
    private static readonly TimeSpan RedrawInterval = TimeSpan.FromMilliseconds(100);
    private readonly Lock _gate = new();
    private readonly IAnsiConsole _console;
    private LiveDisplayContext? _context;
    private ExportProgress? _latest;
    private ExportProgress? _drawn;
    private DateTime _drawnAt;

    private TerminalProgress(IAnsiConsole console)
    {
        _console = console;
    }

    /// <summary>Runs <paramref name="export"/> while drawing its progress on stderr.</summary>
    public static Task<ExportResult> RunAsync(Func<IProgress<ExportProgress>, Task<ExportResult>> export) =>
        RunAsync(AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) }), export);

    /// <summary>Runs <paramref name="export"/> while drawing its progress on <paramref name="console"/>.</summary>
    internal static async Task<ExportResult> RunAsync(IAnsiConsole console, Func<IProgress<ExportProgress>, Task<ExportResult>> export)
    {
        var reporter = new TerminalProgress(console);
        return await console.Live(new Text("resolving image"))
            .AutoClear(false)
            .Overflow(VerticalOverflow.Ellipsis)
            .StartAsync(async context =>
            {
                lock (reporter._gate)
                {
                    reporter._context = context;
                }
                try
                {
                    return await export(reporter).ConfigureAwait(false);
                }
                finally
                {
                    reporter.Draw(force: true);
                }
            }).ConfigureAwait(false);
    }

    public void Report(ExportProgress value)
    {
        lock (_gate)
        {
            _latest = value;
        }
        Draw(force: false);
    }

    private void Draw(bool force)
    {
        lock (_gate)
        {
            if (_context is null || _latest is null || _latest.Layers.Count == 0 || ReferenceEquals(_latest, _drawn))
            {
                return;
            }
            // Every state change is drawn at once; byte counts at most ten times a second.
            bool stateChanged = _drawn is null || _drawn.Stage != _latest.Stage || _drawn.Layers.Count != _latest.Layers.Count
                || _latest.Layers.Any(l => l.State != _drawn.Layers[l.Index].State);
            if (!force && !stateChanged && DateTime.UtcNow - _drawnAt < RedrawInterval)
            {
                return;
            }
            _context.UpdateTarget(Render(_latest, _console.Profile.Width));
            _context.Refresh();
            _drawn = _latest;
            _drawnAt = DateTime.UtcNow;
        }
    }

    /// <summary>The bars for a snapshot, as Spectre renders them: one line each, none wider than <paramref name="width"/> - 1.</summary>
    internal static IRenderable Render(ExportProgress value, int width) =>
        new Rows(Lines(value, width).Select(line =>
            new Markup($"{Markup.Escape(line.Label)} [green]{new string('━', line.Filled)}[/][grey]{new string('━', line.Bar - line.Filled)}[/]{Markup.Escape(line.Tail)}")));

    /// <summary>
    /// Lays out the lines of a snapshot for a terminal <paramref name="width"/> columns wide: a label,
    /// a bar and, as far as they fit, the percentage, the bytes read and (for the image) the rate. The
    /// last column stays free, so no terminal wraps a line.
    /// </summary>
    internal static IReadOnlyList<(string Label, int Bar, int Filled, string Tail)> Lines(ExportProgress value, int width)
    {
        string imageLabel = value.Stage switch
        {
            ExportStage.Writing => "image writing output",
            ExportStage.Done => "image done",
            _ => $"image {value.LayersDone}/{value.Layers.Count} layers",
        };
        var rows = new List<(string Label, double Fraction, string[] Tail)>
        {
            (imageLabel, Fraction(value.BytesRead, value.TotalBytes),
             [Percent(value.BytesRead, value.TotalBytes), Sizes(value.BytesRead, value.TotalBytes), ProgressReporter.Format((long)value.BytesPerSecond) + "/s"]),
        };
        foreach (var layer in value.Layers)
        {
            rows.Add(($"{ProgressReporter.Short(layer.Digest)} {ProgressReporter.Describe(layer.State)}", Fraction(layer.BytesRead, layer.Size),
                      [Percent(layer.BytesRead, layer.Size), Sizes(layer.BytesRead, layer.Size)]));
        }

        int available = Math.Max(1, width - 1);
        int labelWidth = rows.Max(r => r.Label.Length);
        int columns = rows.Max(r => r.Tail.Length);
        int[] tailWidths = [.. Enumerable.Range(0, columns).Select(c => rows.Max(r => c < r.Tail.Length ? r.Tail[c].Length : 0))];
        int TailWidth(int kept) => tailWidths.Take(kept).Sum(w => w + 1);
        int kept = columns;
        while (kept > 0 && labelWidth + 1 + MinimumBar + TailWidth(kept) > available)
        {
            kept--;
        }
        labelWidth = Math.Min(labelWidth, Math.Max(0, available - 1 - MinimumBar - TailWidth(kept)));
        int bar = Math.Clamp(available - labelWidth - 1 - TailWidth(kept), 0, MaximumBar);
        return [.. rows.Select(r =>
        {
            string label = r.Label.Length > labelWidth ? r.Label[..labelWidth] : r.Label.PadRight(labelWidth);
            string tail = string.Concat(Enumerable.Range(0, Math.Min(kept, r.Tail.Length)).Select(c => " " + r.Tail[c].PadLeft(tailWidths[c])));
            int filled = (int)Math.Round(bar * r.Fraction);
            return (label, bar, filled, tail);
        })];
    }

    private static double Fraction(long done, long total) => total <= 0 ? 1 : Math.Clamp(done / (double)total, 0, 1);

    private static string Percent(long done, long total) => ((int)(Fraction(done, total) * 100)).ToString(CultureInfo.InvariantCulture) + "%";

    private static string Sizes(long done, long total) => $"{ProgressReporter.Format(done)}/{ProgressReporter.Format(total)}";
}
