using Decant.Model;

namespace Decant.Cli;

/// <summary>The exit codes the README documents, one per kind of failure.</summary>
internal static class ExitCodes
{
    /// <summary>Bad usage: a command line that does not parse, or options that do not go together.</summary>
    public const int Usage = 2;
    /// <summary>A bug: an unexpected exception (sysexits' EX_SOFTWARE).</summary>
    public const int Internal = 70;
    /// <summary>Cancelled by a signal (128 + SIGINT).</summary>
    public const int Cancelled = 130;

    /// <summary>
    /// <c>decant cache verify</c> found damage (and removed what it could): the digest-mismatch code,
    /// since damage is content that no longer matches the digest it is named by.
    /// </summary>
    public static int DamageFound => For(DecantErrorKind.DigestMismatch);

    /// <summary>The exit code for a failure of <paramref name="kind"/>.</summary>
    public static int For(DecantErrorKind kind) => kind switch
    {
        DecantErrorKind.Usage => Usage,
        DecantErrorKind.NotFound => 3,
        DecantErrorKind.InvalidManifest => 4,
        DecantErrorKind.PlatformNotFound => 5,
        DecantErrorKind.DigestMismatch => 6,
        DecantErrorKind.InvalidLayer => 7,
        DecantErrorKind.UnsafeLayer => 8,
        DecantErrorKind.LimitExceeded => 9,
        DecantErrorKind.OutputError => 10,
        DecantErrorKind.IOError => 11,
        DecantErrorKind.Unauthorized => 12,
        DecantErrorKind.NetworkError => 13,
        DecantErrorKind.UnknownHost => 14,
        DecantErrorKind.RateLimited => 15,
        DecantErrorKind.Denied => 16,
        DecantErrorKind.Cancelled => Cancelled,
        _ => Internal,
    };

    /// <summary>
    /// The error's line for people, with the flag that would change the outcome when the error
    /// names one of the library's settings (<see cref="DecantException.Setting"/>).
    /// </summary>
    public static string Describe(DecantException error) => error.Describe() + error.Setting switch
    {
        "Force" => "; use --force to replace it",
        "MaxUnpackedBytes" => " (--max-unpacked-bytes)",
        "Credentials" => " (--creds)",
        _ => "",
    };
}
