namespace Decant.Sources;

/// <summary>
/// How sources that reach the network (the registry transport) find credentials, decide on TLS,
/// pick mirrors and time out, and how long a containers-storage source waits for a locked store. Other local transports ignore it. The defaults follow podman: credentials
/// from the usual auth files, TLS verified except for loopback registries, no mirrors.
/// </summary>
public sealed record SourceOptions
{
    /// <summary>The defaults: every setting below at its default, the process environment.</summary>
    public static SourceOptions Default { get; } = new();

    /// <summary>Explicit <c>USER:PASSWORD</c> for the image's own registry (never sent to mirrors); overrides every auth file.</summary>
    public string? Credentials { get; init; }

    /// <summary>An auth file (auth.json or a Docker config.json) to use instead of the default search.</summary>
    public string? AuthFile { get; init; }

    /// <summary>
    /// <c>false</c> allows plain HTTP and unverified TLS for every registry (podman's <c>--tls-verify=false</c>);
    /// <c>null</c> or <c>true</c> verify TLS except for loopback and <see cref="InsecureRegistries"/>.
    /// </summary>
    public bool? TlsVerify { get; init; }

    /// <summary>Registries (<c>host[:port]</c>) reachable over plain HTTP or unverified TLS.</summary>
    public IReadOnlyList<string> InsecureRegistries { get; init; } = [];

    /// <summary>
    /// Mirrors (<c>host[:port][/path]</c>) tried in order before the image's own registry, each with
    /// its own credentials. They apply to every registry; registries.conf mirrors are per prefix.
    /// </summary>
    public IReadOnlyList<string> Mirrors { get; init; } = [];

    /// <summary>A registries.conf (v2) whose <c>[[registry]]</c> blocks add mirrors and insecure registries; null reads none.</summary>
    public string? RegistriesConf { get; init; }

    /// <summary>How long one request may wait for its response headers.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>How long a response body may send nothing before the read counts as interrupted.</summary>
    public TimeSpan StallTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How many times a failed request or an interrupted blob is retried (so tried at most this plus one times).</summary>
    public int MaxRetries { get; init; } = DefaultMaxRetries;

    /// <summary>The default of <see cref="MaxRetries"/>, and of the CLI's <c>--retries</c>.</summary>
    public const int DefaultMaxRetries = 5;

    /// <summary>The first retry's delay; it doubles each time, with jitter.</summary>
    public TimeSpan RetryBaseDelay { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>The longest wait between retries, also the cap on a server's <c>Retry-After</c>.</summary>
    public TimeSpan MaxRetryDelay { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>How long a containers-storage source waits for a store that another process (podman, buildah) holds locked for writing.</summary>
    public TimeSpan StoreLockTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Where a source says why it waits (a containers-storage store locked for writing), for the user to see; null says nothing.</summary>
    public Action<string>? Notify { get; init; }

    /// <summary>
    /// Reads an environment variable (REGISTRY_AUTH_FILE, XDG_*, DOCKER_CONFIG, HOME); the process
    /// environment by default. Tests replace it.
    /// </summary>
    public Func<string, string?> Environment { get; init; } = System.Environment.GetEnvironmentVariable;
}
