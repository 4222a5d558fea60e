using System.CommandLine;
using Decant.Sources;

namespace Decant.Cli.Commands;

/// <summary>The registry options (spelled as podman and skopeo spell them), shared by every command that reads an image.</summary>
internal sealed class RegistryOptions
{
    private readonly Option<string?> _credentials = new("--creds") { Description = "USER[:PASSWORD] for the image's registry (never sent to mirrors)" };
    private readonly Option<string?> _authFile = new("--authfile") { Description = "Auth file to use instead of the usual search (REGISTRY_AUTH_FILE, containers auth.json, ~/.docker/config.json)" };
    private readonly Option<bool?> _tlsVerify = new("--tls-verify") { Description = "Require HTTPS and verify certificates (default true; loopback registries may use plain HTTP)" };
    private readonly Option<string[]> _insecure = new("--insecure-registry") { Description = "A registry (HOST[:PORT]) allowed over plain HTTP or unverified TLS; repeatable", AllowMultipleArgumentsPerToken = false };
    private readonly Option<string[]> _mirrors = new("--registry-mirror") { Description = "A mirror (HOST[:PORT][/PATH]) tried before the image's registry; repeatable" };
    private readonly Option<string?> _registriesConf = new("--registries-conf") { Description = "A registries.conf whose [[registry]] blocks add mirrors and insecure registries" };
    private readonly Option<int?> _timeout = new("--timeout") { Description = "Seconds one request may wait for a response (default 60)" };
    private readonly Option<int?> _retries = new("--retries") { Description = "Retries of a failed request or interrupted download, with backoff (default 3)" };

    public const int DefaultRetries = 3;

    public void AddTo(Command command)
    {
        foreach (var option in new Option[] { _credentials, _authFile, _tlsVerify, _insecure, _mirrors, _registriesConf, _timeout, _retries })
        {
            command.Options.Add(option);
        }
    }

    public SourceOptions Read(ParseResult parse)
    {
        string? credentials = parse.GetValue(_credentials);
        if (credentials is not null && credentials.Length == 0)
        {
            throw SharedOptions.Usage("--creds needs USER[:PASSWORD]");
        }
        int? timeout = parse.GetValue(_timeout);
        int? retries = parse.GetValue(_retries);
        if (timeout is <= 0)
        {
            throw SharedOptions.Usage("--timeout must be a positive number of seconds");
        }
        if (retries is < 0)
        {
            throw SharedOptions.Usage("--retries cannot be negative");
        }
        return new SourceOptions
        {
            Credentials = credentials,
            AuthFile = parse.GetValue(_authFile),
            TlsVerify = parse.GetValue(_tlsVerify),
            InsecureRegistries = parse.GetValue(_insecure) ?? [],
            Mirrors = parse.GetValue(_mirrors) ?? [],
            RegistriesConf = parse.GetValue(_registriesConf),
            RequestTimeout = TimeSpan.FromSeconds(timeout ?? (int)SourceOptions.Default.RequestTimeout.TotalSeconds),
            MaxRetries = retries ?? DefaultRetries,
        };
    }
}
