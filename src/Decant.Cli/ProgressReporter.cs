using System.Text.Json;
using Decant.Export;

namespace Decant.Cli;

/// <summary>How progress is shown on stderr.</summary>
internal enum ProgressMode
{
    None,
    /// <summary>One line per layer state change.</summary>
    Plain,
    /// <summary>One JSON object per line, for programs.</summary>
    Json,
    /// <summary>Live bars on a terminal.</summary>
    Bars,
}

/// <summary>Shows export progress on stderr as lines or JSON; <see cref="TerminalProgress"/> draws bars.</summary>
internal sealed class ProgressReporter : IProgress<ExportProgress>
{
    private static readonly TimeSpan JsonInterval = TimeSpan.FromMilliseconds(500);
    private readonly ProgressMode _mode;
    private readonly Lock _gate = new();
    private LayerState[] _lastStates = [];
    private ExportStage? _lastStage;
    private DateTime _lastJson = DateTime.MinValue;

    public ProgressReporter(ProgressMode mode)
    {
        _mode = mode;
    }

    public static ProgressMode ParseMode(string mode) => mode switch
    {
        "none" => ProgressMode.None,
        "json" => ProgressMode.Json,
        "plain" => ProgressMode.Plain,
        "bars" => ProgressMode.Bars,
        _ => Console.IsErrorRedirected ? ProgressMode.Plain : ProgressMode.Bars,
    };

    public void Report(ExportProgress value)
    {
        lock (_gate)
        {
            bool stageChanged = value.Stage != _lastStage;
            bool changed = stageChanged || value.Layers.Count != _lastStates.Length
                || value.Layers.Any(l => l.State != _lastStates[l.Index]);
            var previous = _lastStates;
            _lastStage = value.Stage;
            _lastStates = [.. value.Layers.Select(l => l.State)];
            if (_mode == ProgressMode.Json)
            {
                if (changed || DateTime.UtcNow - _lastJson >= JsonInterval)
                {
                    _lastJson = DateTime.UtcNow;
                    WriteJson(json => WriteSnapshot(json, value));
                }
                return;
            }
            if (!changed)
            {
                return;
            }
            if (stageChanged && value.Stage == ExportStage.Resolving)
            {
                Console.Error.WriteLine("resolving image");
            }
            foreach (var layer in value.Layers.Where(l => previous.Length != value.Layers.Count || previous[l.Index] != l.State))
            {
                if (layer.State is LayerState.Downloading or LayerState.Cached or LayerState.Done)
                {
                    Console.Error.WriteLine($"layer {layer.Index + 1}/{value.Layers.Count} {Short(layer.Digest)} {Describe(layer.State)} ({Format(layer.Size)})");
                }
            }
            if (stageChanged && value.Stage == ExportStage.Writing)
            {
                Console.Error.WriteLine("writing output");
            }
        }
    }

    public void Finish(ExportResult result)
    {
        var summary = result.Summary;
        if (_mode == ProgressMode.Json)
        {
            WriteJson(json =>
            {
                json.WriteString("event", "summary");
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
                WriteCache(json, result.Cache);
                json.WritePropertyName("verity");
                if (summary.Verity is { } verity)
                {
                    verity.WriteTo(json);
                }
                else
                {
                    json.WriteNullValue();
                }
            });
            return;
        }
        var cache = result.Cache;
        Console.Error.WriteLine(
            $"done in {result.Elapsed.TotalSeconds:F2}s: {summary.Directories} directories, {summary.Files} files ({Format(summary.ContentBytes)}), " +
            $"{summary.Symlinks} symlinks, {summary.Hardlinks} hardlinks, {summary.Devices} devices, {summary.Fifos} fifos" +
            (summary.SkippedDevices > 0 ? $"; {summary.SkippedDevices} device nodes skipped (not root)" : "") +
            $"; layers: {cache.LayersFromCache} from the cache, {cache.LayersConverted} converted ({Format(cache.BytesDownloaded)} downloaded)" +
            (cache.LayersUnverified > 0 ? $", {cache.LayersUnverified} of them with the diff_id not checked" : "") +
            (cache.FilesReflinked + cache.FilesCopied > 0 ? $", files taken from files on disk: {cache.FilesReflinked} reflinked ({Format(cache.BytesReflinked)}), {cache.FilesCopied} copied ({Format(cache.BytesCopied)})" : ""));
        if (summary.Verity is { } tree)
        {
            Console.Error.WriteLine(
                $"dm-verity: root hash {tree.RootHash}, hash offset {tree.HashOffset}, salt {(tree.Salt.Length > 0 ? tree.Salt : "-")} " +
                $"({tree.Algorithm}, {tree.DataBlocks} data blocks of {tree.DataBlockSize} bytes, {tree.HashBlockSize}-byte hash blocks)");
        }
    }

    /// <summary>The summary's <c>cache</c> object: every field, always, so programs can rely on it.</summary>
    private static void WriteCache(Utf8JsonWriter json, Cache.CacheStatistics cache)
    {
        json.WriteStartObject("cache");
        json.WriteNumber("layersTotal", cache.LayersTotal);
        json.WriteNumber("layersFromCache", cache.LayersFromCache);
        json.WriteNumber("layersConverted", cache.LayersConverted);
        json.WriteNumber("layersUnverified", cache.LayersUnverified);
        json.WriteNumber("filesReflinked", cache.FilesReflinked);
        json.WriteNumber("filesCopied", cache.FilesCopied);
        json.WriteNumber("filesAlreadyPresent", cache.FilesAlreadyPresent);
        json.WriteNumber("bytesDownloaded", cache.BytesDownloaded);
        json.WriteNumber("bytesDecompressed", cache.BytesDecompressed);
        json.WriteNumber("bytesReflinked", cache.BytesReflinked);
        json.WriteNumber("bytesCopied", cache.BytesCopied);
        json.WriteEndObject();
    }

    /// <summary>Writes an error event (JSON mode) so programs see failures in the same stream.</summary>
    public static void WriteJsonError(string message, int exitCode) => WriteJson(json =>
    {
        json.WriteString("event", "error");
        json.WriteString("message", message);
        json.WriteNumber("exitCode", exitCode);
    });

    /// <summary>Writes a warning event (JSON mode): the run went on, but something needs attention.</summary>
    public static void WriteJsonWarning(string message) => WriteJson(json =>
    {
        json.WriteString("event", "warning");
        json.WriteString("message", message);
    });

    private static void WriteSnapshot(Utf8JsonWriter json, ExportProgress value)
    {
        json.WriteString("event", "progress");
        json.WriteString("stage", value.Stage.ToString().ToLowerInvariant());
        json.WriteNumber("totalBytes", value.TotalBytes);
        json.WriteNumber("bytesRead", value.BytesRead);
        json.WriteNumber("bytesPerSecond", Math.Round(value.BytesPerSecond));
        json.WriteNumber("layersTotal", value.Layers.Count);
        json.WriteNumber("layersDone", value.LayersDone);
        json.WriteStartArray("layers");
        foreach (var layer in value.Layers)
        {
            json.WriteStartObject();
            json.WriteString("digest", layer.Digest);
            json.WriteNumber("size", layer.Size);
            json.WriteNumber("bytesRead", layer.BytesRead);
            json.WriteString("state", layer.State.ToString().ToLowerInvariant());
            json.WriteEndObject();
        }
        json.WriteEndArray();
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

    internal static string Describe(LayerState state) => state switch
    {
        LayerState.Downloading => "reading",
        LayerState.Cached => "from the cache",
        // Read, and waiting for the layers below it: not applying yet.
        LayerState.Read => "waiting",
        LayerState.Done => "applied",
        _ => state.ToString().ToLowerInvariant(),
    };

    internal static string Short(string digest) => digest.Length > 19 ? digest[..19] : digest;

    internal static string Format(long bytes) => bytes switch
    {
        >= 1L << 30 => $"{bytes / (double)(1L << 30):F1} GiB",
        >= 1L << 20 => $"{bytes / (double)(1L << 20):F1} MiB",
        >= 1L << 10 => $"{bytes / (double)(1L << 10):F1} KiB",
        _ => $"{bytes} B",
    };
}
