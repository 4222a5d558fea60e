using System.CommandLine;
using System.CommandLine.Parsing;
using Decant.Export;
using Decant.Model;
using Decant.Writers;
using Decant.Writers.Erofs;
using Decant.Writers.Ext4;
using Decant.Writers.Verity;

namespace Decant.Cli.Commands;

/// <summary><c>decant export IMAGE -o OUTPUT</c>: the main job.</summary>
internal static class ExportCommand
{
    public static Command Create()
    {
        var image = SharedOptions.Image();
        var output = new Option<string>("--output", "-o") { HelpName = "PATH", Description = "Where to write: a directory, a .tar, .ext4, .img or .erofs file, or - for a tar on stdout (never a terminal); missing parent directories are created", Required = true };
        var format = new Option<string?>("--format") { Description = $"{string.Join(", ", OutputFormat.All.Select(f => f.Name))}; without it, from the output's name: {DescribeImpliedFormats()}" };
        format.AcceptOnlyFromAmong([.. OutputFormat.All.Select(f => f.Name)]);
        var size = new Option<ByteSize?>("--size") { HelpName = "SIZE", Description = "The image size (K/M/G/T suffixes); without it, the smallest that fits plus --free-space and --free-inodes", CustomParser = result => ByteSize.Parser(1)(result) };
        var freeSpace = new Option<ByteSize>("--free-space") { HelpName = "SIZE", Description = "Free space to leave in an automatically sized image", DefaultValueFactory = _ => new ByteSize(Ext4WriterOptions.DefaultFreeSpaceBytes), CustomParser = ByteSize.Parser(0) };
        var freeInodes = new Option<long>("--free-inodes") { HelpName = "N", Description = "Free inodes to leave in the image", DefaultValueFactory = _ => Ext4WriterOptions.DefaultFreeInodes, CustomParser = SharedOptions.AtLeast(0L) };
        var noJournal = new Option<bool>("--no-journal") { Description = "Leave out the JBD2 journal" };
        var verity = new Option<bool>("--verity") { Description = "Append a dm-verity hash tree after the filesystem, as veritysetup format writes it (sha256, 4096-byte blocks, the verity superblock at the hash offset); the summary gives the root hash, hash offset and salt" };
        var veritySalt = new Option<byte[]?>("--verity-salt") { HelpName = "HEX", Description = "The dm-verity salt, in hex (at most 256 bytes; - for none); without it, derived from the image, so the same image gives the same bytes. Implies --verity", CustomParser = ParseSalt };
        var verityOut = new Option<string?>("--verity-out") { HelpName = "FILE", Description = "Also write the root hash, hash offset, salt, algorithm, block sizes and data blocks to this file as one JSON object (what veritysetup verify and open need). Implies --verity" };
        var erofsCompression = new Option<string>("--erofs-compression") { Description = "Compress file data: none, lz4 or lz4hc (a file or cluster that does not shrink is stored as it is)", DefaultValueFactory = _ => "none" };
        erofsCompression.AcceptOnlyFromAmong("none", "lz4", "lz4hc");
        var erofsClusterSize = new Option<ByteSize>("--erofs-pcluster-size") { HelpName = "SIZE", Description = "With compression, how much of a file is compressed together (a multiple of 4K, 8K to 1M)", DefaultValueFactory = _ => new ByteSize(ErofsWriterOptions.DefaultPhysicalClusterSize), CustomParser = ByteSize.Parser(1) };
        var platform = SharedOptions.Platform();
        var force = new Option<bool>("--force") { Description = "Replace a non-empty output directory or an existing file; the new output is built beside it and swapped in at the end, so a failure keeps the old one" };
        var bundle = new Option<bool>("--bundle") { Description = "Write an OCI runtime bundle: OUTPUT/rootfs and OUTPUT/config.json (directory output)" };
        var configOut = new Option<string?>("--config-out") { HelpName = "FILE", Description = "Also write the image's config JSON to this file" };
        var rootless = new Option<bool>("--rootless") { Description = "Keep files owned by you and record image owners in the user.rootlesscontainers xattr; the default when not root (directory output)" };
        var maxUnpacked = new Option<ByteSize>("--max-unpacked-bytes") { HelpName = "SIZE", Description = "Stop when the layers unpack to more than this (K/M/G/T suffixes)", DefaultValueFactory = _ => new ByteSize(ExportOptions.DefaultMaxUnpackedBytes), CustomParser = ByteSize.Parser(1) };
        var jobs = new Option<int>("--jobs", "-j") { HelpName = "N", Description = "How many layers to fetch and read at once (ext4: at most one per core; a layer read ahead waits in the cache or a spool, and the image is the same bytes)", DefaultValueFactory = _ => ExportOptions.DefaultJobs, CustomParser = SharedOptions.AtLeast(1) };
        var maxInFlight = new Option<ByteSize>("--max-in-flight") { HelpName = "SIZE", Description = "Most compressed bytes of layers read ahead of the one being applied, which bounds extra disk use", DefaultValueFactory = _ => new ByteSize(ExportOptions.DefaultMaxBytesInFlight), CustomParser = ByteSize.Parser(1) };
        var cacheDirectory = SharedOptions.CacheDirectory();
        var noCache = new Option<bool>("--no-cache") { Description = "Convert every layer afresh and keep nothing (a one-off export)" };
        var progress = new Option<string>("--progress") { Description = "Progress on stderr: auto (bars on a terminal, else plain), bars, plain, json (JSON lines only) or none", DefaultValueFactory = _ => "auto" };
        progress.AcceptOnlyFromAmong("auto", "bars", "plain", "json", "none");

        var command = new Command("export", "Export an image's root filesystem as a directory, a flattened tar, an ext4 disk image or an EROFS image")
        {
            image, output, format, platform, force, bundle, configOut, rootless, maxUnpacked, jobs, maxInFlight, cacheDirectory, noCache, progress,
            size, freeSpace, freeInodes, noJournal, verity, veritySalt, verityOut, erofsCompression, erofsClusterSize,
        };
        var registry = new RegistryOptions();
        registry.AddTo(command);
        HelpLayout.Group(command,
            ("Output options", [output, format, force, bundle, rootless, configOut]),
            ("ext4 output options", [size, freeSpace, freeInodes, noJournal]),
            ("EROFS output options", [erofsCompression, erofsClusterSize]),
            ("dm-verity options (ext4 and EROFS)", [verity, veritySalt, verityOut]),
            ("Image options", [platform]),
            ("Registry options", registry.All),
            ("Limit options", [maxUnpacked, jobs, maxInFlight]),
            ("Cache options", [cacheDirectory, noCache]),
            ("Progress options", [progress]));
        // The options only some formats take; any other format refuses them.
        (OutputFormat[] Formats, Option[] Options)[] formatOnly =
        [
            ([OutputFormat.Ext4], [size, freeSpace, freeInodes, noJournal]),
            ([OutputFormat.Ext4, OutputFormat.Erofs], [verity, veritySalt, verityOut]),
            ([OutputFormat.Erofs], [erofsCompression, erofsClusterSize]),
            ([OutputFormat.Directory], [bundle, rootless]),
        ];
        command.SetAction((parse, cancellationToken) => CommandErrors.RunAsync(ProgressReporter.ParseMode(parse.GetValue(progress)!), "decant export", async () =>
        {
            var mode = ProgressReporter.ParseMode(parse.GetValue(progress)!);
            string reference = parse.GetValue(image)!;
            if (await UserNamespace.RunInsideIfNeededAsync(reference, cancellationToken).ConfigureAwait(false) is { } exitCode)
            {
                return exitCode;
            }
            var options = new ExportOptions
            {
                Output = parse.GetValue(output)!,
                Format = parse.GetValue(format) is { } name ? OutputFormat.FromName(name) : null,
                Platform = SharedOptions.ParsePlatform(parse.GetValue(platform)),
                Force = parse.GetValue(force),
                Bundle = parse.GetValue(bundle),
                ConfigOutput = parse.GetValue(configOut),
                Ownership = parse.GetValue(rootless) ? OwnershipMode.Rootless : null,
                MaxUnpackedBytes = parse.GetValue(maxUnpacked).Bytes,
                Jobs = parse.GetValue(jobs),
                MaxBytesInFlight = parse.GetValue(maxInFlight).Bytes,
            };
            var resolved = options.ResolvedFormat;
            if (UserNamespace.IsReexecuted && resolved.IsDirectory && options.Ownership is null)
            {
                // Root here is the user outside: the files are the user's, the image's owners in the xattr.
                options = options with { Ownership = OwnershipMode.Rootless };
            }
            foreach (var (formats, given) in formatOnly.Where(f => !f.Formats.Contains(resolved)).SelectMany(f => f.Options.Select(o => (f.Formats, o))))
            {
                if (SharedOptions.Given(parse, given))
                {
                    throw SharedOptions.Usage($"{given.Name} does not apply to {resolved.Description} output (it is for {string.Join(" or ", formats.Select(f => f.Description))} output)");
                }
            }
            var verityChoice = parse.GetValue(verity) || SharedOptions.Given(parse, veritySalt) || SharedOptions.Given(parse, verityOut)
                ? new VerityOptions { Salt = SharedOptions.Given(parse, veritySalt) ? parse.GetValue(veritySalt) : null }
                : null;
            if (resolved == OutputFormat.Ext4)
            {
                options = options with
                {
                    FormatOptions = new Ext4WriterOptions
                    {
                        Size = parse.GetValue(size)?.Bytes,
                        FreeSpaceBytes = parse.GetValue(freeSpace).Bytes,
                        FreeInodes = parse.GetValue(freeInodes),
                        Journal = !parse.GetValue(noJournal),
                        Verity = verityChoice,
                    },
                };
            }
            if (resolved == OutputFormat.Erofs)
            {
                long clusterSize = parse.GetValue(erofsClusterSize).Bytes;
                options = options with
                {
                    FormatOptions = new ErofsWriterOptions
                    {
                        Compression = parse.GetValue(erofsCompression) switch { "lz4" => ErofsCompression.Lz4, "lz4hc" => ErofsCompression.Lz4HC, _ => ErofsCompression.None },
                        PhysicalClusterSize = clusterSize <= ErofsWriterOptions.MaxPhysicalClusterSize ? (int)clusterSize : throw SharedOptions.Usage($"--erofs-pcluster-size is at most {ErofsWriterOptions.MaxPhysicalClusterSize} bytes"),
                        Verity = verityChoice,
                    },
                };
            }
            if (options.Output == "-")
            {
                if (SharedOptions.Given(parse, force))
                {
                    throw SharedOptions.Usage("--force does not apply to -o - (standard output)");
                }
                if (!resolved.CanStream)
                {
                    throw SharedOptions.Usage(resolved.IsDirectory
                        ? $"-o - streams a tar only; {resolved.Description} output needs a path"
                        : $"-o - streams a tar only; {resolved.Description} output is written with random access, so it needs a file name");
                }
                if (!Console.IsOutputRedirected)
                {
                    throw SharedOptions.Usage($"refusing to write {resolved.Description} to a terminal; redirect standard output or give -o FILE");
                }
            }
            if (parse.GetValue(verityOut) is { } verityPath && Directory.Exists(verityPath))
            {
                throw SharedOptions.Usage($"--verity-out \"{verityPath}\" is a directory; it needs a file name");
            }
            if (parse.GetValue(noCache) && SharedOptions.Given(parse, cacheDirectory))
            {
                throw SharedOptions.Usage("--cache and --no-cache contradict each other");
            }
            options = options with
            {
                Source = await registry.ReadAsync(parse, reference, mode, cancellationToken).ConfigureAwait(false),
                Cache = parse.GetValue(noCache) ? null : SharedOptions.OpenCache(parse, cacheDirectory, mode),
            };
            var result = mode == ProgressMode.Bars
                ? await TerminalProgress.RunAsync(reporter => ImageExporter.ExportAsync(reference, options, reporter, cancellationToken)).ConfigureAwait(false)
                : await ImageExporter.ExportAsync(reference, options, mode == ProgressMode.None ? null : new ProgressReporter(mode), cancellationToken).ConfigureAwait(false);
            if (parse.GetValue(verityOut) is { } verityFile && result.Summary.Verity is { } tree)
            {
                await WriteAtomicallyAsync(verityFile, tree.ToJson() + "\n", cancellationToken).ConfigureAwait(false);
            }
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

    /// <summary>
    /// <c>--verity-salt</c>'s parser: an even number of hex digits, at most 256 bytes, or - (or
    /// an empty argument) for an empty salt. Anything else is a parse error (exit 2, one line).
    /// </summary>
    private static byte[]? ParseSalt(ArgumentResult result)
    {
        if (result.Tokens.Count == 0)
        {
            return null; // not given: the salt is derived
        }
        string text = result.Tokens[^1].Value;
        if (text is "-" or "")
        {
            return [];
        }
        if (!text.All(char.IsAsciiHexDigit))
        {
            result.AddError($"--verity-salt must be hex digits (0-9, a-f), not \"{text}\"");
        }
        else if (text.Length % 2 != 0)
        {
            result.AddError($"--verity-salt must be an even number of hex digits (two per byte), not {text.Length}");
        }
        else if (text.Length / 2 > VerityOptions.MaxSaltBytes)
        {
            result.AddError($"--verity-salt is {text.Length / 2} bytes; a dm-verity salt is at most {VerityOptions.MaxSaltBytes}");
        }
        else
        {
            return Convert.FromHexString(text);
        }
        return null;
    }

    /// <summary>Writes <paramref name="text"/> to <paramref name="path"/> whole or not at all: into a temporary file beside it, then renamed over it.</summary>
    private static async Task WriteAtomicallyAsync(string path, string text, CancellationToken cancellationToken)
    {
        string full = Path.GetFullPath(path);
        string directory = Path.GetDirectoryName(full) ?? ".";
        string temporary = Path.Combine(directory, $".{Path.GetFileName(full)}.decant-{Guid.NewGuid():N}");
        try
        {
            Directory.CreateDirectory(directory);
            await File.WriteAllTextAsync(temporary, text, cancellationToken).ConfigureAwait(false);
            File.Move(temporary, full, overwrite: true);
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            if (File.Exists(temporary))
            {
                File.Delete(temporary);
            }
            throw new DecantException(DecantErrorKind.OutputError, $"cannot write the dm-verity parameters to \"{path}\": {error.Message}", error);
        }
    }

    /// <summary>Which output names imply which format, for <c>--format</c>'s help.</summary>
    private static string DescribeImpliedFormats() =>
        string.Join(", ", OutputFormat.All.Select(f => string.Join(" and ", (f.CanStream ? ["-"] : Array.Empty<string>()).Concat(f.Extensions.Select(e => "*" + e))) is { Length: > 0 } names ? $"{names} {f.Name}" : null).OfType<string>())
        + $", anything else {OutputFormat.ForOutput("").Name}";
}
