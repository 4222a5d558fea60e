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
        Description = "The image: [docker://]NAME[:TAG][@DIGEST], oci:DIR[:TAG|@DIGEST], oci-archive:FILE[:TAG], docker-archive:FILE[:REF]",
    };

    public static Option<string?> Platform() => new("--platform")
    {
        HelpName = "OS/ARCH[/VARIANT]",
        Description = "The platform to pick from a multi-platform image, as os/arch[/variant] (default: this host's)",
    };

    public static Platform? ParsePlatform(string? value) =>
        value is null ? null : Manifests.Platform.Parse(value);

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
