namespace Decant.Model;

/// <summary>What kind of failure happened, for a host to act on (the CLI maps each kind to its own exit code).</summary>
public enum DecantErrorKind
{
    /// <summary>Bad command-line usage or an unparsable image reference.</summary>
    Usage,
    /// <summary>The image, manifest, tag or blob does not exist in the source.</summary>
    NotFound,
    /// <summary>A manifest, index or config is malformed or unsupported.</summary>
    InvalidManifest,
    /// <summary>No manifest in the index matches the requested platform.</summary>
    PlatformNotFound,
    /// <summary>A blob or manifest did not match its digest or declared size.</summary>
    DigestMismatch,
    /// <summary>A layer is malformed: bad compression, bad tar header, truncated stream.</summary>
    InvalidLayer,
    /// <summary>A layer tried to do something unsafe or meaningless (escape, invalid whiteout, bad hardlink).</summary>
    UnsafeLayer,
    /// <summary>A configured limit was exceeded (unpacked bytes, header size, entry count).</summary>
    LimitExceeded,
    /// <summary>The output target cannot be used (exists and is not empty, not writable).</summary>
    OutputError,
    /// <summary>An I/O error from the operating system.</summary>
    IOError,
    /// <summary>A registry refused the request for lack of credentials.</summary>
    Unauthorized,
    /// <summary>A network or registry failure that persisted through retries.</summary>
    NetworkError,
    /// <summary>A registry's host name does not resolve.</summary>
    UnknownHost,
    /// <summary>A registry kept answering 429 Too Many Requests through every retry.</summary>
    RateLimited,
    /// <summary>A registry accepted the credentials but refused access to the repository (403, DENIED).</summary>
    Denied,
    /// <summary>The operation was cancelled.</summary>
    Cancelled,
}

/// <summary>
/// An expected failure: bad input, a hostile layer, a missing image. Carries enough context
/// (layer digest, entry path) for one clear line of output; never needs a stack trace. The message
/// shows names for people (<see cref="NameBytes.Escape"/>: a raw byte 0xE9 as <c>\xE9</c>);
/// <see cref="Entry"/> keeps the name as it is.
/// </summary>
public class DecantException : Exception
{
    /// <summary>Creates an error of <paramref name="kind"/>; names in <paramref name="message"/> are escaped for display (<see cref="NameBytes.Escape"/>).</summary>
    /// <param name="kind">The failure kind, which decides the CLI's exit code.</param>
    /// <param name="message">One line saying what went wrong, without the layer or entry (see <see cref="Describe"/>).</param>
    /// <param name="inner">The underlying exception, if any.</param>
    public DecantException(DecantErrorKind kind, string message, Exception? inner = null)
        : base(NameBytes.Escape(message), inner)
    {
        Kind = kind;
    }

    /// <summary>What kind of failure this is.</summary>
    public DecantErrorKind Kind { get; }

    /// <summary>The digest of the layer being processed when the failure happened, if any.</summary>
    public string? Layer { get; init; }

    /// <summary>The tar entry (path inside the layer) that caused the failure, if any.</summary>
    public string? Entry { get; init; }

    /// <summary>
    /// The option that decides this outcome, named as the library's options property
    /// (<c>Force</c>, <c>MaxUnpackedBytes</c>, <c>Credentials</c>), or null. Messages never name a
    /// front end's flags; a front end uses this to say which of its own would change the outcome.
    /// </summary>
    public string? Setting { get; init; }

    /// <summary>One line naming what went wrong and where.</summary>
    public string Describe()
    {
        var where = (Layer, Entry) switch
        {
            (not null, not null) => $"layer {Layer}, entry \"{NameBytes.Escape(Abbreviate(Entry))}\": ",
            (not null, null) => $"layer {Layer}: ",
            (null, not null) => $"entry \"{NameBytes.Escape(Abbreviate(Entry))}\": ",
            _ => "",
        };
        return where + Message;
    }

    /// <summary>A path short enough for one line of a message: its start and its end around an ellipsis.</summary>
    public static string Abbreviate(string path) => path.Length <= 300 ? path : path[..120] + " … " + path[^120..];

    /// <summary>Returns a copy of this error annotated with the layer it happened in.</summary>
    public DecantException InLayer(string layer) =>
        Layer is not null ? this : new DecantException(Kind, Message, InnerException) { Layer = layer, Entry = Entry, Setting = Setting };
}
