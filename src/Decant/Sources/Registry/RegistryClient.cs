using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Decant.Model;

namespace Decant.Sources.Registry;

/// <summary>
/// Talks to one registry endpoint: discovers its scheme and auth challenge with <c>GET /v2/</c>
/// (https first; plain http only when the endpoint is insecure), then sends requests under
/// <c>/v2/REPOSITORY/</c> with credentials attached only to the registry's own origin, renewing
/// authorization once on a 401, retrying transient failures, and turning refusals into
/// <see cref="DecantException"/>s that say what was tried.
/// </summary>
internal sealed class RegistryClient(RegistryHttp http, RegistryEndpoint endpoint, CredentialSearch credentials) : IDisposable
{
    private readonly RegistryAuthenticator _auth = new(http, endpoint, credentials);
    private readonly SemaphoreSlim _connectLock = new(1, 1);
    private Uri? _origin;

    public RegistryEndpoint Endpoint => endpoint;

    /// <summary>
    /// Sends <paramref name="method"/> to <c>/v2/REPOSITORY/<paramref name="path"/></c> with
    /// retries. Returns the final response for any status except 401/403 (thrown as
    /// Unauthorized/Denied) and transient ones (retried); the caller handles 404 and others.
    /// </summary>
    public async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, Action<HttpRequestMessage>? configure, string what, CancellationToken cancellationToken)
    {
        var origin = await ConnectAsync(cancellationToken).ConfigureAwait(false);
        var uri = new Uri(origin, $"/v2/{endpoint.Repository}/{path}");
        return await http.RetryAsync(what, async ct =>
        {
            var response = await SendAuthorizedAsync(method, uri, configure, ct).ConfigureAwait(false);
            TransientFailure.ThrowIfTransient(response, what);
            if (response.StatusCode == HttpStatusCode.Unauthorized)
            {
                response.Dispose();
                throw new DecantException(DecantErrorKind.Unauthorized, $"{what}: unauthorized; tried {_auth.DescribeTried()}");
            }
            if (response.StatusCode == HttpStatusCode.Forbidden)
            {
                string detail = await ErrorDetailAsync(response, ct).ConfigureAwait(false);
                response.Dispose();
                throw new DecantException(DecantErrorKind.Denied, $"{what}: access denied{detail}; tried {_auth.DescribeTried()}");
            }
            return response;
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>One attempt: authorized request, redirects followed, and one renewal of authorization on 401.</summary>
    private async Task<HttpResponseMessage> SendAuthorizedAsync(HttpMethod method, Uri uri, Action<HttpRequestMessage>? configure, CancellationToken cancellationToken)
    {
        for (int renewal = 0; ; renewal++)
        {
            var response = await http.SendFollowingRedirectsAsync(method, uri, async (request, ct) =>
            {
                configure?.Invoke(request);
                if (IsSameOrigin(request.RequestUri!))
                {
                    await _auth.AuthorizeAsync(request, ct).ConfigureAwait(false);
                }
            }, cancellationToken).ConfigureAwait(false);
            if (response.StatusCode != HttpStatusCode.Unauthorized || renewal == 1)
            {
                return response;
            }
            await _auth.OnUnauthorizedAsync(response, cancellationToken).ConfigureAwait(false);
            response.Dispose();
        }
    }

    private bool IsSameOrigin(Uri uri) =>
        _origin is { } origin && Uri.Compare(uri, origin, UriComponents.SchemeAndServer, UriFormat.Unescaped, StringComparison.OrdinalIgnoreCase) == 0;

    /// <summary>Runs <c>GET /v2/</c> once: picks the scheme and records the auth challenge.</summary>
    private async Task<Uri> ConnectAsync(CancellationToken cancellationToken)
    {
        if (_origin is { } known)
        {
            return known;
        }
        await _connectLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_origin is null)
            {
                var https = new Uri($"https://{endpoint.NetworkHost}/");
                var http = new Uri($"http://{endpoint.NetworkHost}/");
                if (endpoint.Insecure)
                {
                    try
                    {
                        _origin = await PingAsync(https, retry: false, cancellationToken).ConfigureAwait(false);
                    }
                    catch (Exception error) when (error is HttpRequestException or IOException or TransientFailure && !cancellationToken.IsCancellationRequested)
                    {
                        _origin = await PingAsync(http, retry: true, cancellationToken).ConfigureAwait(false);
                    }
                }
                else
                {
                    _origin = await PingAsync(https, retry: true, cancellationToken).ConfigureAwait(false);
                }
            }
            return _origin;
        }
        finally
        {
            _connectLock.Release();
        }
    }

    private async Task<Uri> PingAsync(Uri origin, bool retry, CancellationToken cancellationToken)
    {
        string what = $"{endpoint} ({origin.Scheme})";
        async Task<HttpResponseMessage> Once(CancellationToken ct)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(origin, "/v2/"));
            var response = await http.SendOnceAsync(request, ct).ConfigureAwait(false);
            TransientFailure.ThrowIfTransient(response, what);
            return response;
        }
        using var response = retry
            ? await http.RetryAsync(what, Once, cancellationToken).ConfigureAwait(false)
            : await Once(cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.Unauthorized)
        {
            _auth.Challenge = AuthChallenge.From(response.Headers.WwwAuthenticate)
                ?? throw new DecantException(DecantErrorKind.Unauthorized, $"{what}: answered 401 without a Bearer or Basic challenge");
        }
        else if (response.StatusCode == HttpStatusCode.NotFound)
        {
            throw new DecantException(DecantErrorKind.NotFound, $"{what}: {origin.Authority} is not a registry (no /v2/ API)");
        }
        else if (!response.IsSuccessStatusCode)
        {
            throw new DecantException(DecantErrorKind.NetworkError, $"{what}: GET /v2/ answered {(int)response.StatusCode} {response.ReasonPhrase}");
        }
        return origin;
    }

    /// <summary>Turns a 404 into NotFound, saying whether the repository or the manifest/blob is unknown.</summary>
    public async Task<DecantException> NotFoundAsync(HttpResponseMessage response, string what, CancellationToken cancellationToken)
    {
        var codes = await ErrorCodesAsync(response, cancellationToken).ConfigureAwait(false);
        string reason = codes.Code switch
        {
            "NAME_UNKNOWN" => $"repository {endpoint.Repository} not found on {endpoint.Registry}",
            "MANIFEST_UNKNOWN" => "manifest unknown (no such tag or digest)",
            "BLOB_UNKNOWN" => "blob unknown",
            _ => "not found (404)",
        };
        return new DecantException(DecantErrorKind.NotFound, $"{what}: {reason}");
    }

    /// <summary>An unexpected status as a NetworkError, with the registry's error message if it sent one.</summary>
    public static async Task<DecantException> UnexpectedAsync(HttpResponseMessage response, string what, CancellationToken cancellationToken)
    {
        string detail = await ErrorDetailAsync(response, cancellationToken).ConfigureAwait(false);
        return new DecantException(DecantErrorKind.NetworkError, $"{what}: unexpected {(int)response.StatusCode} {response.ReasonPhrase}{detail}");
    }

    private static async Task<string> ErrorDetailAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var (code, message) = await ErrorCodesAsync(response, cancellationToken).ConfigureAwait(false);
        return code is null ? "" : $" ({code}{(string.IsNullOrEmpty(message) ? "" : ": " + message)})";
    }

    private static async Task<(string? Code, string? Message)> ErrorCodesAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        try
        {
            byte[] body = await RegistryAuthenticator.ReadSmallAsync(response, cancellationToken).ConfigureAwait(false);
            var parsed = body.Length == 0 ? null : JsonSerializer.Deserialize(body, RegistryJsonContext.Default.RegistryErrorBody);
            var first = parsed?.Errors is { Count: > 0 } errors ? errors[0] : null;
            return (first?.Code, first?.Message);
        }
        catch (Exception error) when (error is JsonException or IOException or HttpRequestException or DecantException)
        {
            return (null, null);
        }
    }

    /// <summary>Sets the manifest Accept list on a request.</summary>
    public static void AcceptManifests(HttpRequestMessage request)
    {
        foreach (string mediaType in Manifests.MediaTypes.ManifestAccept)
        {
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(mediaType));
        }
    }

    public void Dispose()
    {
        _auth.Dispose();
        _connectLock.Dispose();
    }
}
