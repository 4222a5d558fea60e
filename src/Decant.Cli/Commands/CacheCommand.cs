using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Decant.Cache;

namespace Decant.Cli.Commands;

/// <summary>
/// <c>decant cache ls|du|prune|gc|verify</c>: looks after the layer cache (<see cref="DecantCache"/>)
/// that exports fill. Each verb prints text for people on stdout, or with <c>--json</c> one JSON
/// document for programs (every field, full digests, ISO-8601 UTC times, sizes in bytes). A cache
/// directory that does not exist is an empty cache: every verb reports it as such, and none creates it.
/// Exit codes: 0; 2 for usage; <see cref="ExitCodes.DamageFound"/> when <c>verify</c> found damage;
/// the usual codes (I/O: 11) when the cache cannot be read.
/// </summary>
internal static class CacheCommand
{
    private const string MissingIsEmpty = "A cache directory that does not exist is an empty cache: no cache command creates it.";

    public static Command Create() => new("cache", "List, measure, prune, sweep and verify the layer cache that exports fill")
    {
        List(), Usage(), Prune(), Gc(), Verify(),
    };

    /// <summary>The cache a verb works on, as <c>--cache</c> (or the default) names it, and whether <c>--json</c> was given.</summary>
    private sealed class Target(string directory, bool json)
    {
        public string Directory { get; } = directory;

        public bool Json { get; } = json;

        /// <summary>Whether the directory existed when the verb started; when it did not, the cache is not opened (which would create it).</summary>
        public bool Exists { get; } = Path.Exists(directory);

        /// <summary>What <paramref name="use"/> finds in the cache, or <paramref name="empty"/> when its directory does not exist.</summary>
        public Task<T> UseAsync<T>(Func<DecantCache, Task<T>> use, T empty) => Exists ? use(DecantCache.Open(Directory)) : Task.FromResult(empty);

        /// <summary>The JSON document: the cache's directory and existence, then what <paramref name="write"/> adds.</summary>
        public void WriteJson(Action<Utf8JsonWriter> write) => JsonOutput.Write(json =>
        {
            json.WriteStartObject();
            json.WriteString("directory", Directory);
            json.WriteBoolean("exists", Exists);
            write(json);
            json.WriteEndObject();
        });

        /// <summary>The first line of the text form.</summary>
        public string Heading => "cache " + Directory + (Exists ? "" : " (the directory does not exist)");
    }

    /// <summary>
    /// A verb: its own options (under <paramref name="title"/> in help), then <c>--cache</c> and <c>--json</c>;
    /// it runs <paramref name="action"/> with its target, one-line errors and exit codes from <see cref="CommandErrors"/>.
    /// </summary>
    private static Command Verb(string name, string description, string title, Option[] options, Func<ParseResult, Target, CancellationToken, Task<int>> action)
    {
        var cacheDirectory = SharedOptions.CacheDirectory();
        var json = new Option<bool>("--json") { Description = "Print one JSON document on stdout instead of text: every field, full digests, ISO-8601 UTC times, sizes in bytes" };
        var command = new Command(name, description);
        foreach (var option in options.Append(cacheDirectory).Append(json))
        {
            command.Options.Add(option);
        }
        HelpLayout.Group(command, (title, options), ("Cache options", [cacheDirectory]), ("Output options", [json]));
        command.SetAction((parse, cancellationToken) => CommandErrors.RunAsync(ProgressMode.Plain, "decant cache " + name, () =>
        {
            string? given = parse.GetValue(cacheDirectory);
            if (given is { Length: 0 })
            {
                throw SharedOptions.Usage("--cache needs a directory");
            }
            return action(parse, new Target(Path.GetFullPath(given ?? DecantCache.DefaultDirectory), parse.GetValue(json)), cancellationToken);
        }, cancellationToken));
        return command;
    }

    private static Command List() => Verb("ls",
        "List the images exported through the cache (manifest, platform, how many of its layers are cached, size, last use) and the layers it holds (diff_id, size of record and objects, objects, complete or not, last use, images using them), most recently used first. " + MissingIsEmpty,
        "", [], async (parse, target, cancellationToken) =>
        {
            var listing = await target.UseAsync(cache => cache.ListAsync(cancellationToken), new CacheListing([], [])).ConfigureAwait(false);
            if (target.Json)
            {
                target.WriteJson(json => WriteListing(json, listing));
                return 0;
            }
            var text = new StringBuilder(target.Heading).Append(": ");
            if (listing.Images.Count == 0 && listing.Layers.Count == 0)
            {
                Console.Out.Write(text.AppendLine("empty"));
                return 0;
            }
            text.Append(Count(listing.Images.Count, "image")).Append(", ").AppendLine(Count(listing.Layers.Count, "layer"));
            if (listing.Images.Count > 0)
            {
                text.AppendLine();
                Table(text, ["MANIFEST", "PLATFORM", "LAYERS", "SIZE", "LAST USED", "IMAGE"], [false, false, true, true, false, false],
                    listing.Images.Select(image => new[]
                    {
                        ProgressReporter.Short(image.Image.ManifestDigest), image.Image.Platform,
                        $"{image.CachedLayers}/{TotalLayers(image)}", ProgressReporter.Format(image.Bytes), Time(image.Image.LastUsed), image.Image.Reference,
                    }));
            }
            if (listing.Layers.Count > 0)
            {
                text.AppendLine();
                Table(text, ["LAYER", "SIZE", "OBJECTS", "COMPLETE", "LAST USED", "IMAGES"], [false, true, true, false, false, false],
                    listing.Layers.Select(layer => new[]
                    {
                        ProgressReporter.Short(layer.DiffId), ProgressReporter.Format(layer.RecordBytes + layer.ObjectBytes), layer.ObjectCount.ToString(CultureInfo.InvariantCulture),
                        layer.Complete ? "yes" : "no", Time(layer.LastUsed), layer.Images.Count == 0 ? "-" : string.Join(", ", layer.Images),
                    }));
            }
            Console.Out.Write(text);
            return 0;
        });

    private static Command Usage() => Verb("du",
        "Show the cache's disk usage by kind (layer records, content objects allocated and apparent, image records, temporary files), what gc would reclaim, and the total. Sizes are allocated disk space unless said otherwise. " + MissingIsEmpty,
        "", [], async (parse, target, cancellationToken) =>
        {
            var usage = await target.UseAsync(cache => cache.DiskUsageAsync(cancellationToken), new CacheUsage(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)).ConfigureAwait(false);
            if (target.Json)
            {
                target.WriteJson(json => WriteUsage(json, usage));
                return 0;
            }
            var text = new StringBuilder(target.Heading).AppendLine().AppendLine();
            string Number(int count) => count.ToString(CultureInfo.InvariantCulture);
            Table(text, ["KIND", "COUNT", "SIZE", "APPARENT SIZE"], [false, true, true, true],
            [
                ["layer records", Number(usage.Records), ProgressReporter.Format(usage.RecordBytes), ""],
                ["objects", Number(usage.Objects), ProgressReporter.Format(usage.ObjectBytes), ProgressReporter.Format(usage.ObjectApparentBytes)],
                ["image records", Number(usage.Images), ProgressReporter.Format(usage.ImageBytes), ""],
                ["temporary files", Number(usage.TemporaryFiles), ProgressReporter.Format(usage.TemporaryBytes), ""],
                ["total", "", ProgressReporter.Format(usage.TotalBytes), ""],
            ]);
            text.AppendLine().Append("reclaimable by gc: ").Append(Count(usage.UnreferencedObjects, "unreferenced object")).Append(", ").AppendLine(ProgressReporter.Format(usage.ReclaimableBytes));
            Console.Out.Write(text);
            return 0;
        });

    private static Command Prune()
    {
        var maxSize = new Option<ByteSize?>("--max-size") { HelpName = "SIZE", Description = "Remove the least recently used layers until the cache fits in SIZE (K/M/G/T suffixes; 0 removes every layer not in use)", CustomParser = result => ByteSize.Parser(0)(result) };
        var olderThan = new Option<TimeSpan?>("--older-than") { HelpName = "DURATION", Description = $"Remove the layers no export has used for longer than DURATION: a whole number and a unit, {Duration.UnitsDescription}, such as 30d or 12h", CustomParser = Duration.Parse };
        return Verb("prune",
            "Remove layers from the cache: the least recently used until it fits in --max-size, and those unused for longer than --older-than (at least one of the two is required). Layers a running export uses are kept. Then sweeps as gc does. Prints the layers removed, those kept because in use, and the bytes freed. " + MissingIsEmpty,
            "Prune options", [maxSize, olderThan], async (parse, target, cancellationToken) =>
            {
                long? bytes = parse.GetValue(maxSize)?.Bytes;
                var age = parse.GetValue(olderThan);
                if (bytes is null && age is null)
                {
                    throw SharedOptions.Usage("cache prune needs a bound: --max-size SIZE, --older-than DURATION, or both");
                }
                var report = await target.UseAsync(cache => cache.PruneAsync(bytes, age, cancellationToken), new PruneReport([], [], 0, NothingSwept, 0)).ConfigureAwait(false);
                if (target.Json)
                {
                    target.WriteJson(json =>
                    {
                        WriteStrings(json, "layersRemoved", report.LayersRemoved);
                        WriteStrings(json, "layersInUse", report.LayersInUse);
                        json.WriteNumber("recordBytesFreed", report.RecordBytesFreed);
                        json.WriteNumber("bytesFreed", report.BytesFreed);
                        json.WriteStartObject("sweep");
                        WriteSweep(json, report.Sweep);
                        json.WriteEndObject();
                    });
                    return 0;
                }
                var text = new StringBuilder(target.Heading).AppendLine();
                foreach (string diffId in report.LayersRemoved)
                {
                    text.Append("removed layer ").AppendLine(diffId);
                }
                foreach (string diffId in report.LayersInUse)
                {
                    text.Append("kept layer ").Append(diffId).AppendLine(" (in use by an export)");
                }
                text.Append("removed ").Append(Count(report.LayersRemoved.Count, "layer")).Append(", kept ").Append(report.LayersInUse.Count.ToString(CultureInfo.InvariantCulture)).AppendLine(" in use");
                text.AppendLine(DescribeSweep(report.Sweep));
                text.Append("freed ").Append(ProgressReporter.Format(report.BytesFreed)).Append(" (records ").Append(ProgressReporter.Format(report.RecordBytesFreed))
                    .Append(", objects ").Append(ProgressReporter.Format(report.Sweep.BytesFreed)).AppendLine(")");
                Console.Out.Write(text);
                return 0;
            });
    }

    private static Command Gc() => Verb("gc",
        "Sweep the cache: remove the content objects no layer record refers to (waiting for running conversions), files left by processes that died, unused lock files, and records of images none of whose layers is cached any more. Prints what was removed. " + MissingIsEmpty,
        "", [], async (parse, target, cancellationToken) =>
        {
            var report = await target.UseAsync(cache => cache.GcAsync(cancellationToken), NothingSwept).ConfigureAwait(false);
            if (target.Json)
            {
                target.WriteJson(json => WriteSweep(json, report));
                return 0;
            }
            Console.Out.Write(new StringBuilder(target.Heading).AppendLine().AppendLine(DescribeSweep(report)));
            return 0;
        });

    private static Command Verify() => Verb("verify",
        $"Check everything in the cache: every object's content against its fs-verity digest, and every layer record by regenerating its tar and hashing it against its diff_id. Damaged objects and the layers they break are removed (a layer a running export holds is reported, not removed), so the next export converts those layers again. Prints each damaged object and broken layer. Exit code: 0 when the cache is clean, {ExitCodes.DamageFound} when damage was found. " + MissingIsEmpty,
        "", [], async (parse, target, cancellationToken) =>
        {
            var report = await target.UseAsync(cache => cache.VerifyAsync(cancellationToken), new VerifyReport(0, 0, [], [])).ConfigureAwait(false);
            int exitCode = report.Clean ? 0 : ExitCodes.DamageFound;
            if (target.Json)
            {
                target.WriteJson(json =>
                {
                    json.WriteBoolean("clean", report.Clean);
                    json.WriteNumber("layersChecked", report.LayersChecked);
                    json.WriteNumber("objectsChecked", report.ObjectsChecked);
                    WriteStrings(json, "damagedObjects", report.DamagedObjects);
                    json.WriteStartArray("brokenLayers");
                    foreach (var layer in report.BrokenLayers)
                    {
                        json.WriteStartObject();
                        json.WriteString("diffId", layer.DiffId);
                        json.WriteString("problem", layer.Problem);
                        json.WriteBoolean("removed", layer.Removed);
                        json.WriteEndObject();
                    }
                    json.WriteEndArray();
                });
                return exitCode;
            }
            var text = new StringBuilder(target.Heading).AppendLine();
            foreach (string digest in report.DamagedObjects)
            {
                text.Append("damaged object ").Append(digest).AppendLine(" (removed)");
            }
            foreach (var layer in report.BrokenLayers)
            {
                text.Append("broken layer ").Append(layer.DiffId).Append(": ").Append(layer.Problem)
                    .AppendLine(layer.Removed ? " (removed)" : " (kept: in use by an export, which converts it again)");
            }
            text.Append("checked ").Append(Count(report.LayersChecked, "layer")).Append(" and ").Append(Count(report.ObjectsChecked, "object")).Append(": ")
                .AppendLine(report.Clean ? "clean" : $"{Count(report.DamagedObjects.Count, "damaged object")}, {Count(report.BrokenLayers.Count, "broken layer")}");
            Console.Out.Write(text);
            return exitCode;
        });

    /// <summary>The sweep of a cache whose directory does not exist: nothing.</summary>
    private static readonly SweepReport NothingSwept = new(true, 0, 0, 0, 0, 0);

    /// <summary>An image's distinct layers, as <see cref="CachedImage.CachedLayers"/> counts them.</summary>
    private static int TotalLayers(CachedImage image) => image.Image.Layers.Distinct(StringComparer.Ordinal).Count();

    private static void WriteListing(Utf8JsonWriter json, CacheListing listing)
    {
        json.WriteStartArray("images");
        foreach (var image in listing.Images)
        {
            json.WriteStartObject();
            json.WriteString("reference", image.Image.Reference);
            json.WriteString("manifestDigest", image.Image.ManifestDigest);
            json.WriteString("platform", image.Image.Platform);
            WriteStrings(json, "layers", image.Image.Layers);
            json.WriteNumber("layersCached", image.CachedLayers);
            json.WriteNumber("layersTotal", TotalLayers(image));
            json.WriteNumber("bytes", image.Bytes);
            json.WriteString("lastUsed", IsoTime(image.Image.LastUsed));
            json.WriteEndObject();
        }
        json.WriteEndArray();
        json.WriteStartArray("layers");
        foreach (var layer in listing.Layers)
        {
            json.WriteStartObject();
            json.WriteString("diffId", layer.DiffId);
            json.WriteNumber("bytes", layer.RecordBytes + layer.ObjectBytes);
            json.WriteNumber("recordBytes", layer.RecordBytes);
            json.WriteNumber("objectBytes", layer.ObjectBytes);
            json.WriteNumber("objects", layer.ObjectCount);
            json.WriteBoolean("complete", layer.Complete);
            json.WriteString("lastUsed", IsoTime(layer.LastUsed));
            WriteStrings(json, "images", layer.Images);
            json.WriteEndObject();
        }
        json.WriteEndArray();
    }

    private static void WriteUsage(Utf8JsonWriter json, CacheUsage usage)
    {
        void Kind(string name, int count, long bytes)
        {
            json.WriteStartObject(name);
            json.WriteNumber("count", count);
            json.WriteNumber("bytes", bytes);
            if (name == "objects")
            {
                json.WriteNumber("apparentBytes", usage.ObjectApparentBytes);
            }
            json.WriteEndObject();
        }
        Kind("records", usage.Records, usage.RecordBytes);
        Kind("objects", usage.Objects, usage.ObjectBytes);
        Kind("images", usage.Images, usage.ImageBytes);
        Kind("temporary", usage.TemporaryFiles, usage.TemporaryBytes);
        json.WriteStartObject("reclaimable");
        json.WriteNumber("objects", usage.UnreferencedObjects);
        json.WriteNumber("bytes", usage.ReclaimableBytes);
        json.WriteEndObject();
        json.WriteNumber("totalBytes", usage.TotalBytes);
    }

    private static void WriteSweep(Utf8JsonWriter json, SweepReport sweep)
    {
        json.WriteBoolean("objectsSwept", sweep.ObjectsSwept);
        json.WriteNumber("objectsRemoved", sweep.ObjectsRemoved);
        json.WriteNumber("bytesFreed", sweep.BytesFreed);
        json.WriteNumber("leftoversRemoved", sweep.LeftoversRemoved);
        json.WriteNumber("lockFilesRemoved", sweep.LockFilesRemoved);
        json.WriteNumber("imagesRemoved", sweep.ImagesRemoved);
    }

    private static string DescribeSweep(SweepReport sweep) =>
        "gc: " + (sweep.ObjectsSwept ? $"removed {Count(sweep.ObjectsRemoved, "unreferenced object")} ({ProgressReporter.Format(sweep.BytesFreed)})" : "object sweep skipped (a conversion is running)")
        + $", {Count(sweep.LeftoversRemoved, "file")} left by dead processes, {Count(sweep.LockFilesRemoved, "unused lock file")}, {Count(sweep.ImagesRemoved, "image record")} with no layer left";

    private static void WriteStrings(Utf8JsonWriter json, string name, IEnumerable<string> values)
    {
        json.WriteStartArray(name);
        foreach (string value in values)
        {
            json.WriteStringValue(value);
        }
        json.WriteEndArray();
    }

    /// <summary>Columns padded to their widest cell (right-aligned where <paramref name="right"/> says), two spaces apart; the last column is not padded.</summary>
    private static void Table(StringBuilder text, string[] header, bool[] right, IEnumerable<string[]> rows)
    {
        List<string[]> all = [header, .. rows];
        int[] widths = [.. Enumerable.Range(0, header.Length).Select(column => all.Max(row => row[column].Length))];
        foreach (var row in all)
        {
            var line = new StringBuilder();
            for (int column = 0; column < row.Length; column++)
            {
                bool last = column == row.Length - 1;
                line.Append(right[column] ? row[column].PadLeft(widths[column]) : last ? row[column] : row[column].PadRight(widths[column]));
                if (!last)
                {
                    line.Append("  ");
                }
            }
            text.AppendLine(line.ToString().TrimEnd());
        }
    }

    private static string Count(int count, string noun) => count.ToString(CultureInfo.InvariantCulture) + " " + noun + (count == 1 ? "" : "s");

    private static string Time(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    private static string IsoTime(DateTimeOffset time) => time.ToUniversalTime().ToString("O", CultureInfo.InvariantCulture);
}
