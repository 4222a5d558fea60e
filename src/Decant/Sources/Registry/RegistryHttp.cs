using System.Net;
using System.Net.Security;
using Decant.Model;

namespace Decant.Sources.Registry;

/// <summary>
/// The HTTP side of the registry transport, shared by every endpoint of one source: one
/// <see cref="HttpClient"/> on <see cref="SocketsHttpHandler"/> (system proxy honoured, no automatic
/// redirects, TLS verified except for insecure hosts), the per-request timeout, manual redirect
/// following, and the retry loop with exponential backoff, jitter and <c>Retry-After</c>.
/// </summary>
internal sealed class RegistryHttp : IDisposable
{
    private const int MaxRedirects = 10;
    private readonly HttpClient _client;
    private readonly HashSet<string> _insecureHosts;

    public RegistryHttp(SourceOptions options, IEnumerable<RegistryEndpoint> endpoints)
    {
        Options = options;
        _insecureHosts = new HashSet<string>(
            endpoints.Where(e => e.Insecure).Select(e => e.NetworkHost).Concat(options.InsecureRegistries),
            StringComparer.OrdinalIgnoreCase);
        var handler = new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
            ConnectTimeout = options.RequestTimeout,
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            SslOptions = new SslClientAuthenticationOptions { RemoteCertificateValidationCallback = ValidateCertificate },
        };
        _client = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
        _client.DefaultRequestHeaders.UserAgent.ParseAdd("decant/0.1");
    }

    public SourceOptions Options { get; }

    /// <summary>Whether <paramref name="hostAndPort"/> may be reached over plain HTTP or with an unverified certificate.</summary>
    public bool IsInsecure(string hostAndPort) =>
        Options.TlsVerify == false || RegistryEndpoint.IsLoopback(hostAndPort)
        || _insecureHosts.Contains(hostAndPort) || _insecureHosts.Contains(RegistryEndpoint.HostOf(hostAndPort));

    private bool ValidateCertificate(object sender, System.Security.Cryptography.X509Certificates.X509Certificate? certificate,
        System.Security.Cryptography.X509Certificates.X509Chain? chain, SslPolicyErrors errors) =>
        errors == SslPolicyErrors.None || (sender is SslStream stream && IsInsecure(stream.TargetHostName));

    /// <summary>
    /// Sends one request and waits at most <see cref="SourceOptions.RequestTimeout"/> for its
    /// headers; a timeout becomes a <see cref="TransientFailure"/>. The body is left to the caller.
    /// </summary>
    public async Task<HttpResponseMessage> SendOnceAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(Options.RequestTimeout);
        try
        {
            return await _client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TransientFailure($"{request.Method} {Describe(request.RequestUri)}: no response within {Options.RequestTimeout.TotalSeconds:0.###} s");
        }
    }

    /// <summary>
    /// Sends a request and follows redirects itself. <paramref name="prepare"/> sets the headers of
    /// each hop and decides, from the hop's URI, whether credentials go with it. Redirects to plain
    /// HTTP are refused unless the target host is insecure.
    /// </summary>
    public async Task<HttpResponseMessage> SendFollowingRedirectsAsync(HttpMethod method, Uri uri, Func<HttpRequestMessage, CancellationToken, Task> prepare, CancellationToken cancellationToken)
    {
        for (int hop = 0; ; hop++)
        {
            using var request = new HttpRequestMessage(method, uri);
            await prepare(request, cancellationToken).ConfigureAwait(false);
            var response = await SendOnceAsync(request, cancellationToken).ConfigureAwait(false);
            if (!IsRedirect(response.StatusCode))
            {
                return response;
            }
            var location = response.Headers.Location;
            response.Dispose();
            if (location is null)
            {
                throw new DecantException(DecantErrorKind.NetworkError, $"{method} {Describe(uri)}: redirect without a Location");
            }
            if (hop == MaxRedirects)
            {
                throw new DecantException(DecantErrorKind.NetworkError, $"{method} {Describe(uri)}: more than {MaxRedirects} redirects");
            }
            var next = location.IsAbsoluteUri ? location : new Uri(uri, location);
            CheckScheme(next, $"{method} {Describe(uri)} redirected to");
            uri = next;
        }
    }

    /// <summary>Refuses URIs that are neither https nor plain http to an insecure host.</summary>
    public void CheckScheme(Uri uri, string context)
    {
        bool allowed = uri.Scheme == Uri.UriSchemeHttps || (uri.Scheme == Uri.UriSchemeHttp && IsInsecure(uri.Authority));
        if (!allowed)
        {
            throw new DecantException(DecantErrorKind.NetworkError, $"{context} {Describe(uri)}: only https is allowed for this host (name it insecure to allow plain http)");
        }
    }

    /// <summary>
    /// Runs <paramref name="attempt"/> until it succeeds, retrying transient failures up to
    /// <see cref="SourceOptions.MaxRetries"/> times with backoff. A host that does not resolve is
    /// <see cref="DecantErrorKind.UnknownHost"/> at once; exhausted retries become
    /// <see cref="DecantErrorKind.RateLimited"/> (429) or <see cref="DecantErrorKind.NetworkError"/>.
    /// </summary>
    public async Task<T> RetryAsync<T>(string what, Func<CancellationToken, Task<T>> attempt, CancellationToken cancellationToken)
    {
        for (int tries = 1; ; tries++)
        {
            try
            {
                return await attempt(cancellationToken).ConfigureAwait(false);
            }
            catch (HttpRequestException error) when (error.HttpRequestError == HttpRequestError.NameResolutionError)
            {
                throw new DecantException(DecantErrorKind.UnknownHost, $"{what}: unknown host: {error.Message}", error);
            }
            catch (Exception error) when (IsTransient(error) && !cancellationToken.IsCancellationRequested)
            {
                if (tries > Options.MaxRetries)
                {
                    throw Exhausted(what, error, tries);
                }
                await Task.Delay(RetryDelay(tries, (error as TransientFailure)?.RetryAfter), cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>The wait before retry number <paramref name="retry"/> (1-based): base × 2^(retry−1), ±25 % jitter, capped; Retry-After when given.</summary>
    public TimeSpan RetryDelay(int retry, TimeSpan? retryAfter = null)
    {
        if (retryAfter is { } serverWait)
        {
            return serverWait < Options.MaxRetryDelay ? serverWait : Options.MaxRetryDelay;
        }
        double exponential = Options.RetryBaseDelay.TotalMilliseconds * Math.Pow(2, Math.Min(retry - 1, 20));
        double jittered = exponential * (0.75 + (Random.Shared.NextDouble() * 0.5));
        return TimeSpan.FromMilliseconds(Math.Min(jittered, Options.MaxRetryDelay.TotalMilliseconds));
    }

    public static bool IsTransient(Exception error) => error switch
    {
        TransientFailure => true,
        HttpRequestException http => http.HttpRequestError != HttpRequestError.NameResolutionError,
        IOException => true,
        _ => false,
    };

    private static DecantException Exhausted(string what, Exception last, int tries)
    {
        string attempts = tries == 1 ? "1 attempt" : $"{tries} attempts";
        if (last is TransientFailure { Status: HttpStatusCode.TooManyRequests })
        {
            return new DecantException(DecantErrorKind.RateLimited, $"{what}: rate-limited (429 Too Many Requests) through {attempts}; try again later or log in", last);
        }
        return new DecantException(DecantErrorKind.NetworkError, $"{what}: {Message(last)} (gave up after {attempts})", last);
    }

    private static string Message(Exception error) => error switch
    {
        TransientFailure transient => transient.Message,
        _ when error.InnerException is { } inner && !error.Message.Contains(inner.Message, StringComparison.Ordinal) => $"{error.Message} ({inner.Message})",
        _ => error.Message,
    };

    private static bool IsRedirect(HttpStatusCode status) => status is HttpStatusCode.MovedPermanently or HttpStatusCode.Found
        or HttpStatusCode.SeeOther or HttpStatusCode.TemporaryRedirect or HttpStatusCode.PermanentRedirect;

    /// <summary>A URI for messages: scheme, host and path, never the query (signed URLs carry secrets there).</summary>
    public static string Describe(Uri? uri) => uri is null ? "(no URI)" : uri.GetLeftPart(UriPartial.Path);

    public void Dispose() => _client.Dispose();
}
