using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Decant.Model;

namespace Decant.Sources.Registry;

/// <summary>
/// Authorizes requests to one registry endpoint. With a <c>Basic</c> challenge it sends the
/// credentials directly; with a <c>Bearer</c> challenge it runs the token flow: GET the realm with
/// <c>service</c> and <c>scope</c> (anonymously or with Basic credentials), or, for an identity
/// token, the OAuth2 POST (<c>grant_type=refresh_token</c>, falling back to GET on 404/405). Tokens
/// are cached per scope until shortly before they expire (<c>expires_in</c>, 60 s when absent) and
/// dropped when the registry answers 401.
/// </summary>
internal sealed class RegistryAuthenticator(RegistryHttp http, RegistryEndpoint endpoint, CredentialSearch credentials) : IDisposable
{
    private static readonly TimeSpan DefaultTokenLifetime = TimeSpan.FromSeconds(60);
    private readonly Dictionary<string, (string Token, DateTimeOffset Expires)> _tokens = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _lock = new(1, 1);
    private CredentialLookup? _lookup;

    /// <summary>The challenge the registry answered with; null when it needs no authentication.</summary>
    public AuthChallenge? Challenge { get; set; }

    /// <summary>The pull scope for this endpoint's repository.</summary>
    public string PullScope => $"repository:{endpoint.Repository}:pull";

    /// <summary>Says which credentials were tried, for messages (never secrets).</summary>
    public string DescribeTried() => _lookup?.DescribeTried() ?? "anonymous access";

    /// <summary>Adds the <c>Authorization</c> header the current challenge calls for.</summary>
    public async Task AuthorizeAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var challenge = Challenge;
        if (challenge is null)
        {
            return;
        }
        var credential = (await LookupAsync(cancellationToken).ConfigureAwait(false)).Credential;
        if (challenge.IsBasic)
        {
            if (credential is not null)
            {
                request.Headers.Authorization = credential.ToBasicHeader();
            }
            return;
        }
        string token = await GetTokenAsync(challenge, credential, cancellationToken).ConfigureAwait(false);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
    }

    /// <summary>
    /// Takes in a 401: adopts its challenge (which may ask for another scope) and drops cached
    /// tokens so the next <see cref="AuthorizeAsync"/> fetches a fresh one.
    /// </summary>
    public async Task OnUnauthorizedAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            _tokens.Clear();
            Challenge = AuthChallenge.From(response.Headers.WwwAuthenticate) ?? Challenge;
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>The credentials for this endpoint, searched once.</summary>
    public async Task<CredentialLookup> LookupAsync(CancellationToken cancellationToken) =>
        _lookup ??= await credentials.FindAsync(endpoint.Registry, endpoint.Repository, useExplicit: !endpoint.IsMirror, cancellationToken).ConfigureAwait(false);

    private async Task<string> GetTokenAsync(AuthChallenge challenge, RegistryCredential? credential, CancellationToken cancellationToken)
    {
        var scopes = new List<string> { PullScope };
        if (challenge.Scope is { Length: > 0 } asked && !scopes.Contains(asked))
        {
            scopes.Add(asked);
        }
        string key = string.Join(' ', scopes);
        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_tokens.TryGetValue(key, out var cached) && cached.Expires > DateTimeOffset.UtcNow)
            {
                return cached.Token;
            }
            var (token, lifetime) = await FetchTokenAsync(challenge, credential, scopes, cancellationToken).ConfigureAwait(false);
            // Renew a little early so a token never expires between this check and its use.
            var margin = TimeSpan.FromTicks(Math.Min(lifetime.Ticks / 10, TimeSpan.FromSeconds(10).Ticks));
            _tokens[key] = (token, DateTimeOffset.UtcNow + lifetime - margin);
            return token;
        }
        finally
        {
            _lock.Release();
        }
    }

    private async Task<(string Token, TimeSpan Lifetime)> FetchTokenAsync(AuthChallenge challenge, RegistryCredential? credential, List<string> scopes, CancellationToken cancellationToken)
    {
        var realm = RealmOf(challenge);
        string what = $"{endpoint}: token from {RegistryHttp.Describe(realm)}";
        return await http.RetryAsync(what, async ct =>
        {
            using var response = credential?.IdentityToken is not null
                ? await PostRefreshTokenAsync(realm, challenge, credential, scopes, ct).ConfigureAwait(false)
                : await GetTokenResponseAsync(realm, challenge, credential, scopes, ct).ConfigureAwait(false);
            TransientFailure.ThrowIfTransient(response, what);
            if (response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden)
            {
                throw new DecantException(DecantErrorKind.Unauthorized, $"{endpoint}: the token server {RegistryHttp.Describe(realm)} refused {DescribeTried()} ({(int)response.StatusCode})");
            }
            if (!response.IsSuccessStatusCode)
            {
                throw new DecantException(DecantErrorKind.NetworkError, $"{what}: {(int)response.StatusCode} {response.ReasonPhrase}");
            }
            byte[] body = await ReadSmallAsync(response, ct).ConfigureAwait(false);
            return ParseToken(body, what);
        }, cancellationToken).ConfigureAwait(false);
    }

    private async Task<HttpResponseMessage> GetTokenResponseAsync(Uri realm, AuthChallenge challenge, RegistryCredential? credential, List<string> scopes, CancellationToken cancellationToken)
    {
        var query = new List<string>();
        if (challenge.Service is { } service)
        {
            query.Add("service=" + Uri.EscapeDataString(service));
        }
        query.AddRange(scopes.Select(s => "scope=" + Uri.EscapeDataString(s)));
        var builder = new UriBuilder(realm);
        string existing = builder.Query.TrimStart('?');
        builder.Query = string.Join('&', (existing.Length > 0 ? [existing] : Array.Empty<string>()).Concat(query));
        using var request = new HttpRequestMessage(HttpMethod.Get, builder.Uri);
        if (credential is { IdentityToken: null })
        {
            request.Headers.Authorization = credential.ToBasicHeader();
        }
        else if (credential is { Password.Length: > 0 })
        {
            request.Headers.Authorization = credential.ToBasicHeader();
        }
        return await http.SendOnceAsync(request, cancellationToken).ConfigureAwait(false);
    }

    private async Task<HttpResponseMessage> PostRefreshTokenAsync(Uri realm, AuthChallenge challenge, RegistryCredential credential, List<string> scopes, CancellationToken cancellationToken)
    {
        var form = new List<KeyValuePair<string, string>>
        {
            new("grant_type", "refresh_token"),
            new("refresh_token", credential.IdentityToken!),
            new("client_id", "decant"),
            new("service", challenge.Service ?? ""),
            new("scope", string.Join(' ', scopes)),
        };
        using var request = new HttpRequestMessage(HttpMethod.Post, realm) { Content = new FormUrlEncodedContent(form) };
        var response = await http.SendOnceAsync(request, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode is HttpStatusCode.NotFound or HttpStatusCode.MethodNotAllowed)
        {
            response.Dispose();
            return await GetTokenResponseAsync(realm, challenge, credential, scopes, cancellationToken).ConfigureAwait(false);
        }
        return response;
    }

    /// <summary>The challenge's realm, which must be an absolute https URL (or http to an insecure host).</summary>
    private Uri RealmOf(AuthChallenge challenge)
    {
        if (!Uri.TryCreate(challenge.Realm, UriKind.Absolute, out var realm) || (realm.Scheme != Uri.UriSchemeHttps && realm.Scheme != Uri.UriSchemeHttp))
        {
            throw new DecantException(DecantErrorKind.NetworkError, $"{endpoint}: the Bearer challenge's realm \"{challenge.Realm}\" is not an http(s) URL");
        }
        http.CheckScheme(realm, $"{endpoint}: token realm");
        return realm;
    }

    private static (string Token, TimeSpan Lifetime) ParseToken(byte[] body, string what)
    {
        TokenResponse? parsed;
        try
        {
            parsed = JsonSerializer.Deserialize(body, RegistryJsonContext.Default.TokenResponse);
        }
        catch (JsonException error)
        {
            throw new DecantException(DecantErrorKind.NetworkError, $"{what}: the answer is not JSON: {error.Message}", error);
        }
        string token = parsed?.Token is { Length: > 0 } t ? t
            : parsed?.AccessToken is { Length: > 0 } a ? a
            : throw new DecantException(DecantErrorKind.NetworkError, $"{what}: the answer holds neither token nor access_token");
        var lifetime = parsed!.ExpiresIn is { } seconds && seconds > 0 ? TimeSpan.FromSeconds(seconds) : DefaultTokenLifetime;
        return (token, lifetime);
    }

    /// <summary>Reads a small response body (token, error), capped at 1 MiB.</summary>
    public static async Task<byte[]> ReadSmallAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            return await SmallJson.ReadCappedAsync(stream, 1024 * 1024, "registry response", cancellationToken).ConfigureAwait(false);
        }
    }

    public void Dispose() => _lock.Dispose();
}
