using System.Text.Json;
using Decant.Export;

namespace Decant.Cli;

/// <summary>Shows export progress on stderr: readable lines, or one JSON object per line for programs.</summary>
internal sealed class ProgressReporter : IProgress<ExportProgress>
{
    private static readonly bool Debug = Environment.GetEnvironmentVariable("DECANT_DEBUG") == "1";
    private readonly bool _json;
    private readonly Lock _gate = new();

    private ProgressReporter(bool json)
    {
        _json = json;
    }

    public static ProgressReporter? Create(string mode) => mode switch
    {
        "none" => null,
        "json" => new ProgressReporter(json: true),
        _ => new ProgressReporter(json: false),
    };

    public void Report(ExportProgress value)
    {
        lock (_gate)
        {
            if (_json)
            {
                WriteJson(json =>
                {
                    json.WriteString("event", value.Stage.ToString());
                    json.WriteNumber("layersTotal", value.LayersTotal);
                    json.WriteNumber("layersApplied", value.LayersApplied);
                    if (value.Layer is not null)
                    {
                        json.WriteString("layer", value.Layer);
                        json.WriteNumber("layerBytes", value.LayerBytes);
                    }
                });
                return;
            }
            string? line = value.Stage switch
            {
                ExportStage.Resolving => "resolving image",
                ExportStage.ReadingLayer => $"reading layer {Short(value.Layer)} ({value.LayerBytes} bytes)",
                ExportStage.LayerApplied => $"applied layer {value.LayersApplied}/{value.LayersTotal} {Short(value.Layer)}",
                ExportStage.Writing => "writing output",
                _ => null,
            };
            if (line is not null)
            {
                Console.Error.WriteLine(Debug ? $"{line} [allocated {GC.GetTotalAllocatedBytes() >> 10} KiB, gen0 GCs {GC.CollectionCount(0)}]" : line);
            }
        }
    }

    public void Finish(ExportResult result)
    {
        var summary = result.Summary;
        if (_json)
        {
            WriteJson(json =>
            {
                json.WriteString("event", "Summary");
                json.WriteNumber("directories", summary.Directories);
                json.WriteNumber("files", summary.Files);
                json.WriteNumber("symlinks", summary.Symlinks);
                json.WriteNumber("hardlinks", summary.Hardlinks);
                json.WriteNumber("devices", summary.Devices);
                json.WriteNumber("fifos", summary.Fifos);
                json.WriteNumber("skippedDevices", summary.SkippedDevices);
                json.WriteNumber("contentBytes", summary.ContentBytes);
                json.WriteNumber("uncompressedBytes", result.UncompressedBytes);
                json.WriteNumber("seconds", result.Elapsed.TotalSeconds);
            });
            return;
        }
        Console.Error.WriteLine(
            $"done in {result.Elapsed.TotalSeconds:F2}s: {summary.Directories} directories, {summary.Files} files ({summary.ContentBytes} bytes), " +
            $"{summary.Symlinks} symlinks, {summary.Hardlinks} hardlinks, {summary.Devices} devices, {summary.Fifos} fifos" +
            (summary.SkippedDevices > 0 ? $"; {summary.SkippedDevices} device nodes skipped (not root)" : ""));
    }

    private static void WriteJson(Action<Utf8JsonWriter> body)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            body(json);
            json.WriteEndObject();
        }
        Console.Error.WriteLine(System.Text.Encoding.UTF8.GetString(buffer.ToArray()));
    }

    private static string Short(string? digest) => digest is null ? "" : digest.Length > 19 ? digest[..19] : digest;
}
