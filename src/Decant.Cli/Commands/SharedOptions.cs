using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Numerics;
using Decant.Manifests;
using Decant.Model;

namespace Decant.Cli.Commands;

/// <summary>Options more than one command takes.</summary>
internal static class SharedOptions
{
    public static Argument<string> Image() => new("image")
    {
        Description = "The image: [docker://]NAME[:TAG][@DIGEST], oci:DIR[:TAG|@DIGEST], oci-archive:FILE[:TAG], docker-archive:FILE[:REF], containers-storage:[DRIVER@ROOT+RUNROOT:OPTIONS]IMAGE",
    };

    public static Option<string?> Platform() => new("--platform")
    {
        HelpName = "OS/ARCH[/VARIANT]",
        Description = "The platform to pick from a multi-platform image, as os/arch[/variant] (default: this host's)",
    };

    public static Platform? ParsePlatform(string? value) =>
        value is null ? null : Manifests.Platform.Parse(value);

    /// <summary><c>--cache DIR</c>: the layer cache's directory, for <c>export</c> and every <c>cache</c> verb.</summary>
    public static Option<string?> CacheDirectory() => new("--cache")
    {
        HelpName = "DIR",
        Description = "The layer cache's directory (default: $DECANT_CACHE, else /var/cache/decant as root, else $XDG_CACHE_HOME/decant or ~/.cache/decant)",
    };

    /// <summary>
    /// Opens the cache <c>--cache</c> names, or the default one. A cache given by name that cannot be
    /// opened is an error; the default one is skipped with a warning, and the export goes on without it.
    /// </summary>
    public static Decant.Cache.DecantCache? OpenCache(ParseResult parse, Option<string?> cacheDirectory, ProgressMode mode)
    {
        try
        {
            return Decant.Cache.DecantCache.Open(parse.GetValue(cacheDirectory));
        }
        catch (DecantException error) when (!Given(parse, cacheDirectory) && Environment.GetEnvironmentVariable("DECANT_CACHE") is null or "")
        {
            CommandErrors.Warn(mode, error.Message + "; going on without the layer cache");
            return null;
        }
    }

    public static DecantException Usage(string message) => new(DecantErrorKind.Usage, message);

    /// <summary>True when the option was written on the command line (not just defaulted).</summary>
    public static bool Given(ParseResult parse, Option option) => parse.GetResult(option) is { Implicit: false };

    /// <summary>
    /// An argument parser for a whole number of at least <paramref name="minimum"/>: anything else
    /// is a parse error (exit 2, one line), reported before the command runs.
    /// </summary>
    public static Func<ArgumentResult, T> AtLeast<T>(T minimum) where T : struct, IBinaryInteger<T> => result =>
    {
        string text = result.Tokens.Count > 0 ? result.Tokens[^1].Value : "";
        string name = (result.Parent as OptionResult)?.Option.Name ?? "the option";
        if (T.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value) && value >= minimum)
        {
            return value;
        }
        result.AddError($"{name} must be a whole number of at least {minimum}, not \"{text}\"");
        return minimum;
    };
}
