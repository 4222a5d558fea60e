using System.CommandLine;
using Decant.References;
using Decant.Sources;

namespace Decant.Cli.Commands;

/// <summary>The registry options (spelled as podman and skopeo spell them) and the containers-storage lock wait, shared by every command that reads an image.</summary>
internal sealed class RegistryOptions
{
    private readonly Option<string?> _credentials = new("--creds") { HelpName = "USER[:PASSWORD]", Description = "USER[:PASSWORD] for the image's registry (never sent to mirrors); without a password, it is asked for on the terminal" };
    private readonly Option<bool> _passwordStdin = new("--password-stdin") { Description = "Read the password for --creds USER from standard input, so it is not in the command line" };
    private readonly Option<string?> _authFile = new("--authfile") { HelpName = "FILE", Description = "Auth file to use instead of the usual search (REGISTRY_AUTH_FILE, containers auth.json, ~/.docker/config.json)" };
    private readonly Option<bool> _tlsVerify = new("--tls-verify") { Description = "Require HTTPS and verify certificates; --tls-verify=false allows plain HTTP and unverified TLS (loopback registries may always use plain HTTP)", DefaultValueFactory = _ => true };
    private readonly Option<string[]> _insecure = new("--insecure-registry") { HelpName = "HOST[:PORT]", Description = "A registry (HOST[:PORT]) allowed over plain HTTP or unverified TLS; repeatable", AllowMultipleArgumentsPerToken = false };
    private readonly Option<string[]> _mirrors = new("--registry-mirror") { HelpName = "HOST[:PORT][/PATH]", Description = "A mirror (HOST[:PORT][/PATH]) tried before the image's registry; repeatable" };
    private readonly Option<string?> _registriesConf = new("--registries-conf") { HelpName = "FILE", Description = "A registries.conf whose [[registry]] blocks add mirrors and insecure registries" };
    private readonly Option<int> _timeout = new("--timeout") { HelpName = "SECONDS", Description = "Seconds one request may wait for a response", DefaultValueFactory = _ => (int)SourceOptions.Default.RequestTimeout.TotalSeconds };
    private readonly Option<int> _storageLockTimeout = new("--storage-lock-timeout") { HelpName = "SECONDS", Description = "Seconds to wait for a containers-storage store that podman or buildah holds locked for writing", DefaultValueFactory = _ => (int)SourceOptions.Default.StoreLockTimeout.TotalSeconds };
    private readonly Option<int> _retries = new("--retries") { HelpName = "N", Description = "Retries of a failed request or interrupted download, with exponential backoff and jitter", DefaultValueFactory = _ => SourceOptions.DefaultMaxRetries };

    /// <summary>Every registry option, in the order help lists them.</summary>
    public Option[] All => [_credentials, _passwordStdin, _authFile, _tlsVerify, _insecure, _mirrors, _registriesConf, _timeout, _retries, _storageLockTimeout];

    public void AddTo(Command command)
    {
        foreach (var option in All)
        {
            command.Options.Add(option);
        }
    }

    /// <summary>
    /// The source options the command line asks for. A password missing from <c>--creds USER</c> comes
    /// from standard input (<c>--password-stdin</c>) or, for a registry image, from a prompt on the terminal.
    /// </summary>
    public async Task<SourceOptions> ReadAsync(ParseResult parse, string reference, ProgressMode mode, CancellationToken cancellationToken)
    {
        string? credentials = parse.GetValue(_credentials);
        if (credentials is not null && (credentials.Length == 0 || credentials[0] == ':'))
        {
            throw SharedOptions.Usage("--creds needs USER[:PASSWORD]");
        }
        int timeout = parse.GetValue(_timeout);
        int retries = parse.GetValue(_retries);
        if (timeout <= 0)
        {
            throw SharedOptions.Usage("--timeout must be a positive number of seconds");
        }
        if (retries < 0)
        {
            throw SharedOptions.Usage("--retries cannot be negative");
        }
        int storageLockTimeout = parse.GetValue(_storageLockTimeout);
        if (storageLockTimeout < 0)
        {
            throw SharedOptions.Usage("--storage-lock-timeout cannot be negative");
        }
        bool passwordStdin = parse.GetValue(_passwordStdin);
        if (passwordStdin && credentials is null)
        {
            throw SharedOptions.Usage("--password-stdin needs --creds USER for the user name");
        }
        if (passwordStdin && credentials!.Contains(':', StringComparison.Ordinal))
        {
            throw SharedOptions.Usage("--password-stdin and a password in --creds USER:PASSWORD: give the password one way");
        }
        bool fromRegistry = ImageReference.ParseWithBareNames(reference).Transport == "docker";
        if (credentials is not null && !credentials.Contains(':', StringComparison.Ordinal) && fromRegistry)
        {
            string password = passwordStdin
                ? await PasswordPrompt.ReadStandardInputAsync(cancellationToken).ConfigureAwait(false)
                : await PasswordPrompt.AskAsync(credentials, mode, cancellationToken).ConfigureAwait(false);
            credentials = credentials + ":" + password;
        }
        return new SourceOptions
        {
            Credentials = credentials,
            AuthFile = parse.GetValue(_authFile),
            TlsVerify = parse.GetValue(_tlsVerify),
            InsecureRegistries = parse.GetValue(_insecure) ?? [],
            Mirrors = parse.GetValue(_mirrors) ?? [],
            RegistriesConf = parse.GetValue(_registriesConf),
            RequestTimeout = TimeSpan.FromSeconds(timeout),
            MaxRetries = retries,
            StoreLockTimeout = TimeSpan.FromSeconds(storageLockTimeout),
            Notify = message => CommandErrors.Warn(mode, message),
        };
    }
}
