using System.CommandLine;
using System.Globalization;
using Decant.Export;
using Decant.Writers;
using Decant.Writers.Ext4;

namespace Decant.Cli.Commands;

/// <summary><c>decant export IMAGE -o OUTPUT</c>: the main job.</summary>
internal static class ExportCommand
{
    public static Command Create()
    {
        var image = SharedOptions.Image();
        var output = new Option<string>("--output", "-o") { HelpName = "PATH", Description = "Where to write: a directory, a .tar, .ext4 or .img file, or - for a tar on stdout (never a terminal); missing parent directories are created", Required = true };
        var format = new Option<string?>("--format") { Description = "dir, tar or ext4; without it, from the output's name: - and *.tar are tar, *.ext4 and *.img ext4, anything else dir" };
        format.AcceptOnlyFromAmong("dir", "tar", "ext4");
        var size = new Option<string?>("--size") { HelpName = "SIZE", Description = "The image size (K/M/G/T suffixes); without it, the smallest that fits plus --free-space and --free-inodes" };
        var freeSpace = new Option<string>("--free-space") { HelpName = "SIZE", Description = "Free space to leave in an automatically sized image", DefaultValueFactory = _ => FormatSize(Ext4WriterOptions.DefaultFreeSpaceBytes) };
        var freeInodes = new Option<long>("--free-inodes") { HelpName = "N", Description = "Free inodes to leave in the image", DefaultValueFactory = _ => Ext4WriterOptions.DefaultFreeInodes };
        var noJournal = new Option<bool>("--no-journal") { Description = "Leave out the JBD2 journal" };
        var platform = SharedOptions.Platform();
        var force = new Option<bool>("--force") { Description = "Replace a non-empty output directory or an existing file; the new output is built beside it and swapped in at the end, so a failure keeps the old one" };
        var bundle = new Option<bool>("--bundle") { Description = "Write an OCI runtime bundle: OUTPUT/rootfs and OUTPUT/config.json (directory output)" };
        var configOut = new Option<string?>("--config-out") { HelpName = "FILE", Description = "Also write the image's config JSON to this file" };
        var rootless = new Option<bool>("--rootless") { Description = "Keep files owned by you and record image owners in the user.rootlesscontainers xattr; the default when not root (directory output)" };
        var maxUnpacked = new Option<string>("--max-unpacked-bytes") { HelpName = "SIZE", Description = "Stop when the layers unpack to more than this (K/M/G/T suffixes)", DefaultValueFactory = _ => FormatSize(ExportOptions.DefaultMaxUnpackedBytes) };
        var jobs = new Option<int>("--jobs", "-j") { HelpName = "N", Description = "How many layers to fetch and read at once (an ext4 output reads one at a time)", DefaultValueFactory = _ => ExportOptions.DefaultJobs };
        var maxInFlight = new Option<string>("--max-in-flight") { HelpName = "SIZE", Description = "Most compressed bytes of layers read ahead of the one being applied, which bounds extra disk use", DefaultValueFactory = _ => FormatSize(ExportOptions.DefaultMaxBytesInFlight) };
        var progress = new Option<string>("--progress") { Description = "Progress on stderr: auto (bars on a terminal, else plain), bars, plain, json (JSON lines only) or none", DefaultValueFactory = _ => "auto" };
        progress.AcceptOnlyFromAmong("auto", "bars", "plain", "json", "none");

        var command = new Command("export", "Export an image's root filesystem as a directory, a flattened tar or an ext4 disk image")
        {
            image, output, format, platform, force, bundle, configOut, rootless, maxUnpacked, jobs, maxInFlight, progress,
            size, freeSpace, freeInodes, noJournal,
        };
        var registry = new RegistryOptions();
        registry.AddTo(command);
        HelpLayout.Group(command,
            ("Output options", [output, format, force, bundle, rootless, configOut]),
            ("ext4 output options", [size, freeSpace, freeInodes, noJournal]),
            ("Image options", [platform]),
            ("Registry options", registry.All),
            ("Limit options", [maxUnpacked, jobs, maxInFlight]),
            ("Progress options", [progress]));
        Option[] ext4Only = [size, freeSpace, freeInodes, noJournal];
        Option[] directoryOnly = [bundle, rootless];
        command.SetAction((parse, cancellationToken) => CommandErrors.RunAsync(ProgressReporter.ParseMode(parse.GetValue(progress)!), "decant export", async () =>
        {
            var mode = ProgressReporter.ParseMode(parse.GetValue(progress)!);
            string reference = parse.GetValue(image)!;
            var options = new ExportOptions
            {
                Output = parse.GetValue(output)!,
                Format = parse.GetValue(format) switch { "dir" => OutputFormat.Directory, "tar" => OutputFormat.Tar, "ext4" => OutputFormat.Ext4, _ => null },
                Ext4Size = parse.GetValue(size) is { } fixedSize ? ParseSize(fixedSize) : null,
                Ext4FreeSpaceBytes = ParseSize(parse.GetValue(freeSpace)!, allowZero: true),
                Ext4FreeInodes = parse.GetValue(freeInodes) is var inodes and >= 0 ? inodes : throw SharedOptions.Usage("--free-inodes cannot be negative"),
                Ext4Journal = !parse.GetValue(noJournal),
                Platform = SharedOptions.ParsePlatform(parse.GetValue(platform)),
                Force = parse.GetValue(force),
                Bundle = parse.GetValue(bundle),
                ConfigOutput = parse.GetValue(configOut),
                Ownership = parse.GetValue(rootless) ? OwnershipMode.Rootless : null,
                MaxUnpackedBytes = ParseSize(parse.GetValue(maxUnpacked)!),
                Jobs = parse.GetValue(jobs) is var j and > 0 ? j : throw SharedOptions.Usage("--jobs must be at least 1"),
                MaxBytesInFlight = ParseSize(parse.GetValue(maxInFlight)!),
            };
            var resolved = options.ResolvedFormat;
            string formatName = resolved switch { OutputFormat.Directory => "a directory", OutputFormat.Ext4 => "an ext4", _ => "a tar" };
            foreach (var option in resolved == OutputFormat.Ext4 ? directoryOnly.Append(jobs) : resolved == OutputFormat.Tar ? ext4Only.Concat(directoryOnly) : ext4Only)
            {
                if (SharedOptions.Given(parse, option))
                {
                    throw SharedOptions.Usage($"{option.Name} does not apply to {formatName} output");
                }
            }
            if (options.Output == "-")
            {
                if (SharedOptions.Given(parse, force))
                {
                    throw SharedOptions.Usage("--force does not apply to -o - (standard output)");
                }
                if (resolved == OutputFormat.Tar && !Console.IsOutputRedirected)
                {
                    throw SharedOptions.Usage("refusing to write a tar to a terminal; redirect standard output or give -o FILE");
                }
            }
            options = options with { Source = await registry.ReadAsync(parse, reference, mode, cancellationToken).ConfigureAwait(false) };
            var result = mode == ProgressMode.Bars
                ? await TerminalProgress.RunAsync(reporter => ImageExporter.ExportAsync(reference, options, reporter, cancellationToken)).ConfigureAwait(false)
                : await ImageExporter.ExportAsync(reference, options, mode == ProgressMode.None ? null : new ProgressReporter(mode), cancellationToken).ConfigureAwait(false);
            if (result.CleanupFailure is { } leftOver)
            {
                CommandErrors.Warn(mode, leftOver.Describe());
            }
            if (mode != ProgressMode.None)
            {
                new ProgressReporter(mode).Finish(result);
            }
            return 0;
        }, cancellationToken));
        return command;
    }

    /// <summary>A byte count as <see cref="ParseSize"/> reads it, in the largest unit that divides it (64M, 2G).</summary>
    internal static string FormatSize(long bytes)
    {
        const string Units = "KMGT";
        int unit = -1;
        while (unit < Units.Length - 1 && bytes != 0 && bytes % 1024 == 0)
        {
            bytes /= 1024;
            unit++;
        }
        return bytes.ToString(CultureInfo.InvariantCulture) + (unit < 0 ? "" : Units[unit].ToString());
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
