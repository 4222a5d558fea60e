using System.Text;
using System.Text.Json;
using Decant.Model;
using Decant.References;

namespace Decant.Sources.Registry;

/// <summary>
/// Finds the credentials for a registry the way podman does: explicit <see cref="SourceOptions.Credentials"/>; else an
/// explicit auth file alone; else, in order, <c>$REGISTRY_AUTH_FILE</c> (or
/// <c>$XDG_RUNTIME_DIR/containers/auth.json</c>), <c>$XDG_CONFIG_HOME/containers/auth.json</c>
/// (default <c>~/.config</c>) and <c>$DOCKER_CONFIG/config.json</c> (default <c>~/.docker/config.json</c>).
/// Within a file: <c>credHelpers[registry]</c>, then the most specific <c>auths</c> key
/// (<c>registry/namespace</c> before <c>registry</c>; Docker Hub also under
/// <c>https://index.docker.io/v1/</c>), then <c>credsStore</c>. The first file with an answer wins.
/// </summary>
internal sealed class CredentialSearch(SourceOptions options)
{
    private const string DockerHubLegacyKey = "https://index.docker.io/v1/";

    /// <summary>Looks up credentials for <paramref name="registry"/> (as written in image names, e.g. <c>docker.io</c>).</summary>
    /// <param name="registry">The registry host[:port], in its normalized image-name form.</param>
    /// <param name="repository">The repository, for namespace-specific auth entries.</param>
    /// <param name="useExplicit">Whether <see cref="SourceOptions.Credentials"/> applies (not for mirrors).</param>
    /// <param name="cancellationToken">Stops a running credential helper.</param>
    public async Task<CredentialLookup> FindAsync(string registry, string repository, bool useExplicit, CancellationToken cancellationToken)
    {
        if (useExplicit && options.Credentials is { } explicitCredentials)
        {
            return new CredentialLookup(ParseExplicit(explicitCredentials), "the given credentials");
        }
        var files = AuthFiles();
        foreach (string file in files)
        {
            var found = await FindInFileAsync(file, registry, repository, options.Environment, cancellationToken).ConfigureAwait(false);
            if (found is not null)
            {
                return new CredentialLookup(found, string.Join(", ", files));
            }
        }
        return new CredentialLookup(null, files.Count == 0 ? "no auth files" : string.Join(", ", files));
    }

    /// <summary>The auth files searched, in order.</summary>
    public IReadOnlyList<string> AuthFiles()
    {
        if (options.AuthFile is { } authFile)
        {
            if (!File.Exists(authFile))
            {
                throw new DecantException(DecantErrorKind.Usage, $"auth file \"{authFile}\" does not exist");
            }
            return [authFile];
        }
        var env = options.Environment;
        string home = env("HOME") ?? System.Environment.GetFolderPath(System.Environment.SpecialFolder.UserProfile);
        var files = new List<string>();
        if (NonEmpty(env("REGISTRY_AUTH_FILE")) is { } registryAuthFile)
        {
            files.Add(registryAuthFile);
        }
        else if (NonEmpty(env("XDG_RUNTIME_DIR")) is { } runtimeDirectory)
        {
            files.Add(Path.Combine(runtimeDirectory, "containers", "auth.json"));
        }
        files.Add(Path.Combine(NonEmpty(env("XDG_CONFIG_HOME")) ?? Path.Combine(home, ".config"), "containers", "auth.json"));
        files.Add(NonEmpty(env("DOCKER_CONFIG")) is { } dockerConfig
            ? Path.Combine(dockerConfig, "config.json")
            : Path.Combine(home, ".docker", "config.json"));
        return files;
    }

    private static RegistryCredential ParseExplicit(string value)
    {
        int colon = value.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0)
        {
            throw new DecantException(DecantErrorKind.Usage, "the given credentials must be USER:PASSWORD") { Setting = nameof(SourceOptions.Credentials) };
        }
        return new RegistryCredential(value[..colon], value[(colon + 1)..], null, "the given credentials");
    }

    private static async Task<RegistryCredential?> FindInFileAsync(string file, string registry, string repository, Func<string, string?> environment, CancellationToken cancellationToken)
    {
        if (!File.Exists(file))
        {
            return null;
        }
        AuthFileDocument document;
        try
        {
            byte[] bytes = await File.ReadAllBytesAsync(file, cancellationToken).ConfigureAwait(false);
            document = bytes.Length == 0 ? new AuthFileDocument() : JsonSerializer.Deserialize(bytes, RegistryJsonContext.Default.AuthFileDocument) ?? new AuthFileDocument();
        }
        catch (JsonException error)
        {
            throw new DecantException(DecantErrorKind.Usage, $"auth file \"{file}\" is not valid JSON: {error.Message}", error);
        }
        catch (IOException error)
        {
            throw new DecantException(DecantErrorKind.IOError, $"cannot read auth file \"{file}\": {error.Message}", error);
        }

        string helperServer = registry == DockerImageName.DefaultRegistry ? DockerHubLegacyKey : registry;
        if (document.CredentialHelpers?.GetValueOrDefault(registry) is { Length: > 0 } helper)
        {
            return await CredentialHelper.GetAsync(helper, helperServer, $"credHelpers of {file}", environment, cancellationToken).ConfigureAwait(false);
        }
        if (FindEntry(document, registry, repository) is { } match)
        {
            return Decode(match.Entry, $"{file} (auths \"{match.Key}\")", file, match.Key);
        }
        if (document.CredentialStore is { Length: > 0 } store)
        {
            return await CredentialHelper.GetAsync(store, helperServer, $"credsStore of {file}", environment, cancellationToken).ConfigureAwait(false);
        }
        return null;
    }

    /// <summary>The most specific usable <c>auths</c> entry: longest namespace prefix first, then the bare registry.</summary>
    private static (string Key, AuthFileEntry Entry)? FindEntry(AuthFileDocument document, string registry, string repository)
    {
        if (document.Auths is null)
        {
            return null;
        }
        (string Key, AuthFileEntry Entry, int Length)? best = null;
        foreach (var (key, entry) in document.Auths)
        {
            if (entry is null || !HasCredentials(entry))
            {
                continue;
            }
            string normalized = NormalizeKey(key);
            bool matches = normalized == registry
                || (registry + "/" + repository + "/").StartsWith(normalized + "/", StringComparison.Ordinal);
            if (matches && (best is null || normalized.Length > best.Value.Length))
            {
                best = (key, entry, normalized.Length);
            }
        }
        return best is { } found ? (found.Key, found.Entry) : null;
    }

    /// <summary>
    /// Reduces an auth key to the form of image names: legacy keys with a scheme keep only their
    /// host (<c>https://index.docker.io/v1/</c> → <c>docker.io</c>); Docker Hub's aliases become <c>docker.io</c>.
    /// </summary>
    internal static string NormalizeKey(string key)
    {
        string value = key;
        int scheme = value.IndexOf("://", StringComparison.Ordinal);
        if (scheme >= 0)
        {
            value = value[(scheme + 3)..];
            int slash = value.IndexOf('/', StringComparison.Ordinal);
            if (slash >= 0)
            {
                value = value[..slash];
            }
        }
        value = value.TrimEnd('/');
        string host = value.Split('/', 2)[0];
        if (host is "index.docker.io" or "registry-1.docker.io")
        {
            value = DockerImageName.DefaultRegistry + value[host.Length..];
        }
        return value;
    }

    private static bool HasCredentials(AuthFileEntry entry) =>
        !string.IsNullOrEmpty(entry.Auth) || !string.IsNullOrEmpty(entry.IdentityToken) || !string.IsNullOrEmpty(entry.Password);

    private static RegistryCredential Decode(AuthFileEntry entry, string source, string file, string key)
    {
        string username = entry.Username ?? "";
        string password = entry.Password ?? "";
        if (!string.IsNullOrEmpty(entry.Auth))
        {
            string decoded;
            try
            {
                decoded = Encoding.UTF8.GetString(Convert.FromBase64String(entry.Auth));
            }
            catch (FormatException error)
            {
                throw new DecantException(DecantErrorKind.Usage, $"auth file \"{file}\": the \"auth\" of \"{key}\" is not base64", error);
            }
            int colon = decoded.IndexOf(':', StringComparison.Ordinal);
            if (colon < 0)
            {
                throw new DecantException(DecantErrorKind.Usage, $"auth file \"{file}\": the \"auth\" of \"{key}\" is not base64 of USER:PASSWORD");
            }
            username = decoded[..colon];
            password = decoded[(colon + 1)..];
        }
        string? identityToken = string.IsNullOrEmpty(entry.IdentityToken) ? null : entry.IdentityToken;
        return new RegistryCredential(username, password, identityToken, source);
    }

    private static string? NonEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;
}
