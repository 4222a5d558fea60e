using System.CommandLine;
using System.Globalization;
using Decant.Export;
using Decant.Writers;

namespace Decant.Cli.Commands;

/// <summary><c>decant export IMAGE -o OUTPUT</c>: the main job.</summary>
internal static class ExportCommand
{
    public static Command Create()
    {
        var image = SharedOptions.Image();
        var output = new Option<string>("--output", "-o") { Description = "Where to write: a directory, a .tar file, or - for a tar on stdout", Required = true };
        var format = new Option<string?>("--format") { Description = "dir, tar or ext4 (default: tar for '-' and *.tar, ext4 for *.ext4 and *.img, else dir)" };
        format.AcceptOnlyFromAmong("dir", "tar", "ext4");
        var size = new Option<string?>("--size") { Description = "ext4: the image size (e.g. 2G); default: the smallest that fits plus --free-space" };
        var freeSpace = new Option<string?>("--free-space") { Description = "ext4: free space to leave in an automatically sized image (default 64M)" };
        var freeInodes = new Option<long?>("--free-inodes") { Description = "ext4: free inodes to leave (default 8192)" };
        var noJournal = new Option<bool>("--no-journal") { Description = "ext4: leave out the JBD2 journal" };
        var platform = SharedOptions.Platform();
        var force = new Option<bool>("--force") { Description = "Empty a non-empty output directory first, or replace an existing output file" };
        var bundle = new Option<bool>("--bundle") { Description = "Write an OCI runtime bundle: OUTPUT/rootfs and OUTPUT/config.json" };
        var configOut = new Option<string?>("--config-out") { Description = "Also write the image's config JSON to this file" };
        var rootless = new Option<bool>("--rootless") { Description = "Keep files owned by you and record image owners in the user.rootlesscontainers xattr (the default when not root)" };
        var maxUnpacked = new Option<string?>("--max-unpacked-bytes") { Description = "Stop when the layers unpack to more than this (e.g. 20G; default 64G)" };
        var jobs = new Option<int?>("--jobs", "-j") { Description = "How many layers to fetch and read at once (default 4)" };
        var maxInFlight = new Option<string?>("--max-in-flight") { Description = "Most compressed bytes of layers read ahead of the one being applied, which bounds extra disk use (default 2G)" };
        var progress = new Option<string>("--progress") { Description = "Progress on stderr: auto (bars on a terminal, else plain), bars, plain, json or none", DefaultValueFactory = _ => "auto" };
        progress.AcceptOnlyFromAmong("auto", "bars", "plain", "json", "none");

        var command = new Command("export", "Export an image's root filesystem as a directory, a flattened tar or an ext4 disk image")
        {
            image, output, format, platform, force, bundle, configOut, rootless, maxUnpacked, jobs, maxInFlight, progress,
            size, freeSpace, freeInodes, noJournal,
        };
        var registry = new RegistryOptions();
        registry.AddTo(command);
        command.SetAction((parse, cancellationToken) => CommandErrors.RunAsync(ProgressReporter.ParseMode(parse.GetValue(progress)!), async () =>
        {
            var options = new ExportOptions
            {
                Output = parse.GetValue(output)!,
                Format = parse.GetValue(format) switch { "dir" => OutputFormat.Directory, "tar" => OutputFormat.Tar, "ext4" => OutputFormat.Ext4, _ => null },
                Ext4Size = parse.GetValue(size) is { } fixedSize ? ParseSize(fixedSize) : null,
                Ext4FreeSpaceBytes = parse.GetValue(freeSpace) is { } free ? ParseSize(free, allowZero: true) : Decant.Writers.Ext4.Ext4WriterOptions.DefaultFreeSpaceBytes,
                Ext4FreeInodes = parse.GetValue(freeInodes) is { } inodes ? (inodes >= 0 ? inodes : throw SharedOptions.Usage("--free-inodes cannot be negative")) : Decant.Writers.Ext4.Ext4WriterOptions.DefaultFreeInodes,
                Ext4Journal = !parse.GetValue(noJournal),
                Platform = SharedOptions.ParsePlatform(parse.GetValue(platform)),
                Source = registry.Read(parse),
                Force = parse.GetValue(force),
                Bundle = parse.GetValue(bundle),
                ConfigOutput = parse.GetValue(configOut),
                Ownership = parse.GetValue(rootless) ? OwnershipMode.Rootless : null,
                MaxUnpackedBytes = parse.GetValue(maxUnpacked) is { } limit ? ParseSize(limit) : ExportOptions.DefaultMaxUnpackedBytes,
                Jobs = parse.GetValue(jobs) is { } j ? (j > 0 ? j : throw SharedOptions.Usage("--jobs must be at least 1")) : ExportOptions.DefaultJobs,
                MaxBytesInFlight = parse.GetValue(maxInFlight) is { } window ? ParseSize(window) : ExportOptions.DefaultMaxBytesInFlight,
            };
            var mode = ProgressReporter.ParseMode(parse.GetValue(progress)!);
            string reference = parse.GetValue(image)!;
            var result = mode == ProgressMode.Bars
                ? await TerminalProgress.RunAsync(reporter => ImageExporter.ExportAsync(reference, options, reporter, cancellationToken)).ConfigureAwait(false)
                : await ImageExporter.ExportAsync(reference, options, mode == ProgressMode.None ? null : new ProgressReporter(mode), cancellationToken).ConfigureAwait(false);
            if (mode != ProgressMode.None)
            {
                new ProgressReporter(mode).Finish(result);
            }
            return 0;
        }, cancellationToken));
        return command;
    }

    /// <summary>Parses a byte count with an optional K, M, G or T suffix (powers of 1024).</summary>
    internal static long ParseSize(string text, bool allowZero = false)
    {
        string digits = text.TrimEnd('B', 'b', 'i');
        int shift = 0;
        if (digits.Length > 0 && "KMGT".Contains(char.ToUpperInvariant(digits[^1]), StringComparison.Ordinal))
        {
            shift = 10 * ("KMGT".IndexOf(char.ToUpperInvariant(digits[^1]), StringComparison.Ordinal) + 1);
            digits = digits[..^1];
        }
        if (!long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out long value) || value < (allowZero ? 0 : 1) || value > (long.MaxValue >> shift))
        {
            throw SharedOptions.Usage($"invalid size \"{text}\" (expected a number with an optional K, M, G or T suffix)");
        }
        return value << shift;
    }
}
