using System.CommandLine;
using Decant.Model;
using Decant.Manifests;

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
        value is null ? null : PlatformMatcher.Parse(value);

    public static DecantException Usage(string message) => new(DecantErrorKind.Usage, message);

    /// <summary>True when the option was written on the command line (not just defaulted).</summary>
    public static bool Given(ParseResult parse, Option option) => parse.GetResult(option) is { Implicit: false };
}
