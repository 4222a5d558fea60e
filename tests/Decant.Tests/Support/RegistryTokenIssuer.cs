using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;

namespace Decant.Tests.Support;

/// <summary>One request the token issuer received: the scopes asked for and the user it authenticated (null: anonymous).</summary>
public sealed record TokenRequest(string Method, IReadOnlyList<string> Scopes, string? User, string? Service);

/// <summary>
/// A token server implementing the Docker registry token spec for the test registry:
/// <c>GET REALM?service=…&amp;scope=repository:NAME:pull</c> with optional Basic credentials answers
/// <c>{"token","access_token","expires_in"}</c>, a JWT signed RS256 with a test key whose
/// self-signed certificate (in the <c>x5c</c> header) is the registry's <c>rootcertbundle</c>.
/// Valid credentials get the actions they asked for; anonymous callers get a token with no access
/// (as Docker Hub does for private repositories), so the registry then refuses them.
/// </summary>
public sealed class RegistryTokenIssuer : IAsyncDisposable
{
    public const string Service = "decant-test-registry";
    public const string Issuer = "decant-test-issuer";

    private readonly HttpListener _listener = new();
    private readonly RSA _key = RSA.Create(2048);
    private readonly X509Certificate2 _certificate;
    private readonly IReadOnlyDictionary<string, string> _users;
    private readonly Task _loop;

    public RegistryTokenIssuer(IReadOnlyDictionary<string, string> users)
    {
        _users = users;
        var request = new CertificateRequest("CN=decant test token issuer", _key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyCertSign, true));
        _certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(7));
        Port = FreePort();
        _listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
        _listener.Start();
        _loop = Task.Run(ServeAsync);
    }

    public int Port { get; }

    /// <summary>The realm the registry names in its Bearer challenge.</summary>
    public string Realm => $"http://127.0.0.1:{Port}/token";

    /// <summary>Every token request received, in order.</summary>
    public ConcurrentQueue<TokenRequest> Requests { get; } = new();

    /// <summary>The issuer's certificate as PEM, for the registry's <c>rootcertbundle</c>.</summary>
    public string CertificatePem => _certificate.ExportCertificatePem();

    /// <summary>Refresh (identity) tokens accepted by the OAuth2 POST, and the user each stands for.</summary>
    public ConcurrentDictionary<string, string> RefreshTokens { get; } = new(StringComparer.Ordinal);

    /// <summary>How long issued tokens say they live (<c>expires_in</c>).</summary>
    public int ExpiresIn { get; set; } = 300;

    /// <summary>A free TCP port on 127.0.0.1 (bound and released).</summary>
    public static int FreePort()
    {
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        int port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        return port;
    }

    private async Task ServeAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception error) when (error is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }
            try
            {
                await HandleAsync(context);
            }
            catch (Exception error) when (error is HttpListenerException or IOException)
            {
                // The client went away.
            }
        }
    }

    private async Task HandleAsync(HttpListenerContext context)
    {
        var request = context.Request;
        var response = context.Response;
        var query = request.QueryString;
        string[] scopes = query.GetValues("scope") ?? [];
        string? service = query["service"];
        System.Collections.Specialized.NameValueCollection? form = null; // the OAuth2 POST's fields
        if (request.HttpMethod == "POST")
        {
            using var reader = new StreamReader(request.InputStream, Encoding.UTF8);
            form = System.Web.HttpUtility.ParseQueryString(await reader.ReadToEndAsync());
            scopes = (form["scope"] ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries);
            service = form["service"];
        }
        string? user = null;
        if (form is not null)
        {
            string? refreshToken = form["refresh_token"];
            if (form["grant_type"] != "refresh_token" || refreshToken is null || !RefreshTokens.TryGetValue(refreshToken, out user))
            {
                Requests.Enqueue(new TokenRequest(request.HttpMethod, scopes, "!refresh", service));
                response.StatusCode = 401;
                response.Close();
                return;
            }
        }
        else if (request.Headers["Authorization"] is { } authorization && authorization.StartsWith("Basic ", StringComparison.Ordinal))
        {
            string decoded = Encoding.UTF8.GetString(Convert.FromBase64String(authorization["Basic ".Length..]));
            int colon = decoded.IndexOf(':', StringComparison.Ordinal);
            string name = decoded[..colon];
            if (!_users.TryGetValue(name, out string? password) || password != decoded[(colon + 1)..])
            {
                Requests.Enqueue(new TokenRequest(request.HttpMethod, scopes, "!" + name, service));
                response.StatusCode = 401;
                response.Close();
                return;
            }
            user = name;
        }
        Requests.Enqueue(new TokenRequest(request.HttpMethod, scopes, user, service));
        string token = CreateToken(user, user is null ? [] : scopes);
        byte[] body = JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object> { ["token"] = token, ["access_token"] = token, ["expires_in"] = ExpiresIn });
        response.ContentType = "application/json";
        response.ContentLength64 = body.Length;
        await response.OutputStream.WriteAsync(body);
        response.Close();
    }

    private string CreateToken(string? subject, IReadOnlyList<string> scopes)
    {
        long now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var header = new Dictionary<string, object>
        {
            ["typ"] = "JWT",
            ["alg"] = "RS256",
            ["x5c"] = new[] { Convert.ToBase64String(_certificate.RawData) },
        };
        var access = scopes.Select(ParseScope).Where(a => a is not null).ToList();
        var claims = new Dictionary<string, object>
        {
            ["iss"] = Issuer,
            ["sub"] = subject ?? "",
            ["aud"] = Service,
            ["exp"] = now + ExpiresIn,
            ["nbf"] = now - 10,
            ["iat"] = now,
            ["jti"] = Guid.NewGuid().ToString("N"),
            ["access"] = access,
        };
        string signingInput = Base64Url(JsonSerializer.SerializeToUtf8Bytes(header)) + "." + Base64Url(JsonSerializer.SerializeToUtf8Bytes(claims));
        byte[] signature = _key.SignData(Encoding.ASCII.GetBytes(signingInput), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        return signingInput + "." + Base64Url(signature);
    }

    /// <summary><c>repository:NAME:pull,push</c> → an access claim entry.</summary>
    private static Dictionary<string, object>? ParseScope(string scope)
    {
        string[] parts = scope.Split(':');
        if (parts.Length < 3)
        {
            return null;
        }
        return new Dictionary<string, object>
        {
            ["type"] = parts[0],
            ["name"] = string.Join(':', parts[1..^1]),
            ["actions"] = parts[^1].Split(','),
        };
    }

    private static string Base64Url(byte[] data) => Convert.ToBase64String(data).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    public async ValueTask DisposeAsync()
    {
        _listener.Stop();
        _listener.Close();
        await _loop;
        _key.Dispose();
        _certificate.Dispose();
    }
}
