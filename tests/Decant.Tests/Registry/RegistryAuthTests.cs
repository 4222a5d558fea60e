using System.Text;
using System.Text.Json;
using Decant.Model;
using Decant.Sources;
using Decant.Tests.Support;

namespace Decant.Tests.Registry;

/// <summary>
/// Authentication against real registries: htpasswd Basic and the Docker token flow (with the
/// test token issuer), credentials from --creds, an auth.json named by REGISTRY_AUTH_FILE, a Docker
/// config.json, and a credential helper; refusals name the credential source and never the secret.
/// Every test runs with its own environment (an empty HOME), so the host's credentials never leak in.
/// </summary>
[Collection(UsesRegistries.Name)]
public sealed class RegistryAuthTests(RegistryFixture registries) : RegistryTest(registries)
{
    private readonly ScratchDirectory _home = new();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _home.Dispose();
        }
        base.Dispose(disposing);
    }

    public static TheoryData<string> AuthRegistries => ["basic", "token"];

    private RegistryServer Server(string kind) => kind == "basic" ? Registries.Basic : Registries.Token;

    private static (string User, string Password) Account(string kind) => kind == "basic"
        ? (RegistryFixture.BasicUser, RegistryFixture.BasicPassword)
        : (RegistryFixture.TokenUser, RegistryFixture.TokenPassword);

    [Theory]
    [MemberData(nameof(AuthRegistries))]
    public async Task AnonymousPullIsUnauthorizedAndSaysWhereItLooked(string kind)
    {
        var error = await Assert.ThrowsAsync<DecantException>(() => ExportAsync(kind, Options()));
        Assert.Equal(DecantErrorKind.Unauthorized, error.Kind);
        Assert.Contains("anonymous", error.Message, StringComparison.Ordinal);
        Assert.Contains(Path.Combine(_home.Path, ".docker", "config.json"), error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', error.Message);
    }

    [Theory]
    [MemberData(nameof(AuthRegistries))]
    public async Task ExplicitCredentialsPull(string kind)
    {
        var (user, password) = Account(kind);
        var expected = await ExpectedAsync();
        TreeSnapshotAssert.Equal(expected, await ExportAsync(kind, Options() with { Credentials = $"{user}:{password}" }));
    }

    [Theory]
    [MemberData(nameof(AuthRegistries))]
    public async Task CredentialsFromRegistryAuthFile(string kind)
    {
        var (user, password) = Account(kind);
        string authFile = _home.Combine("auth.json");
        await WriteAuthFileAsync(authFile, Server(kind).Host, new Dictionary<string, string> { ["auth"] = Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}")) });
        var options = Options(new Dictionary<string, string> { ["REGISTRY_AUTH_FILE"] = authFile });
        TreeSnapshotAssert.Equal(await ExpectedAsync(), await ExportAsync(kind, options));
    }

    [Theory]
    [MemberData(nameof(AuthRegistries))]
    public async Task CredentialsFromDockerConfig(string kind)
    {
        var (user, password) = Account(kind);
        string dockerConfig = _home.Combine("docker-config");
        Directory.CreateDirectory(dockerConfig);
        await WriteAuthFileAsync(Path.Combine(dockerConfig, "config.json"), "http://" + Server(kind).Host + "/v2/", new Dictionary<string, string> { ["username"] = user, ["password"] = password });
        var options = Options(new Dictionary<string, string> { ["DOCKER_CONFIG"] = dockerConfig });
        TreeSnapshotAssert.Equal(await ExpectedAsync(), await ExportAsync(kind, options));
    }

    [Fact]
    public async Task CredentialsFromACredentialHelper()
    {
        string bin = _home.Combine("bin");
        Directory.CreateDirectory(bin);
        string helper = Path.Combine(bin, "docker-credential-decanttest");
        string seen = _home.Combine("helper-stdin");
        await File.WriteAllTextAsync(helper, $$"""
            #!/bin/sh
            [ "$1" = get ] || exit 3
            cat > '{{seen}}'
            printf '{"ServerURL":"x","Username":"{{RegistryFixture.TokenUser}}","Secret":"{{RegistryFixture.TokenPassword}}"}'
            """, Token);
        await Tools.RunCheckedAsync("chmod", ["0700", helper], Token);
        string xdgConfig = _home.Combine("xdg");
        Directory.CreateDirectory(Path.Combine(xdgConfig, "containers"));
        await File.WriteAllTextAsync(Path.Combine(xdgConfig, "containers", "auth.json"), JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["auths"] = new Dictionary<string, object>(),
            ["credHelpers"] = new Dictionary<string, string> { [Registries.Token.Host] = "decanttest" },
        }), Token);
        var options = Options(new Dictionary<string, string> { ["XDG_CONFIG_HOME"] = xdgConfig, ["PATH"] = bin + ":/usr/bin:/bin" });
        TreeSnapshotAssert.Equal(await ExpectedAsync(), await ExportAsync("token", options));
        Assert.Equal(Registries.Token.Host, await File.ReadAllTextAsync(seen, Token));
    }

    [Theory]
    [MemberData(nameof(AuthRegistries))]
    public async Task WrongPasswordNamesTheSourceButNotTheSecret(string kind)
    {
        var (user, _) = Account(kind);
        string authFile = _home.Combine("wrong.json");
        const string wrong = "wrong-password-123";
        await WriteAuthFileAsync(authFile, Server(kind).Host, new Dictionary<string, string> { ["auth"] = Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{wrong}")) });
        var error = await Assert.ThrowsAsync<DecantException>(() => ExportAsync(kind, Options() with { AuthFile = authFile }));
        Assert.Equal(DecantErrorKind.Unauthorized, error.Kind);
        Assert.Contains(authFile, error.Message, StringComparison.Ordinal);
        Assert.Contains(user, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(wrong, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task IdentityTokensUseTheOAuth2RefreshGrant()
    {
        string refreshToken = "refresh-" + Guid.NewGuid().ToString("N");
        Registries.Issuer.RefreshTokens[refreshToken] = RegistryFixture.TokenUser;
        string authFile = _home.Combine("identity.json");
        await WriteAuthFileAsync(authFile, Registries.Token.Host, new Dictionary<string, string> { ["auth"] = Convert.ToBase64String(Encoding.UTF8.GetBytes("<token>:")), ["identitytoken"] = refreshToken });
        int before = Registries.Issuer.Requests.Count;
        TreeSnapshotAssert.Equal(await ExpectedAsync(), await ExportAsync("token", Options() with { AuthFile = authFile }));
        var posts = Registries.Issuer.Requests.Skip(before).Where(r => r.Method == "POST" && r.User == RegistryFixture.TokenUser).ToList();
        Assert.Contains(posts, r => r.Scopes.Contains($"repository:{RegistryFixture.UmociMulti}:pull"));
    }

    [Fact]
    public async Task TokensAreRequestedWithThePullScopeAndCached()
    {
        int before = Registries.Issuer.Requests.Count;
        await ExportAsync("token", Options() with { Credentials = $"{RegistryFixture.TokenUser}:{RegistryFixture.TokenPassword}" });
        var requests = Registries.Issuer.Requests.Skip(before).Where(r => r.User == RegistryFixture.TokenUser).ToList();
        // Manifest, config and four layers share one token; other tests may run in parallel with other scopes.
        var mine = requests.Where(r => r.Scopes.Contains($"repository:{RegistryFixture.UmociMulti}:pull")).ToList();
        Assert.NotEmpty(mine);
        Assert.True(mine.Count <= 2, $"{mine.Count} token requests for one pull");
        Assert.All(mine, r => Assert.Equal(RegistryTokenIssuer.Service, r.Service));
    }

    private async Task<TreeSnapshot> ExpectedAsync() =>
        await RegistryExport.ExportAsync($"oci:{Registries.Images.UmociMulti}:latest", SourceOptions.Default, NewOutput(), null, Token);

    private async Task<TreeSnapshot> ExportAsync(string kind, SourceOptions options) =>
        await RegistryExport.ExportAsync(RegistryFixture.Reference(Server(kind), RegistryFixture.UmociMulti), options, NewOutput(), null, Token);

    private string NewOutput() => NewOutput("auth");

    /// <summary>Options whose environment holds only HOME (an empty directory) and <paramref name="variables"/>.</summary>
    private SourceOptions Options(IReadOnlyDictionary<string, string>? variables = null)
    {
        var environment = new Dictionary<string, string>(variables ?? new Dictionary<string, string>()) { ["HOME"] = _home.Path };
        return new SourceOptions { Environment = name => environment.GetValueOrDefault(name), MaxRetries = 1, RetryBaseDelay = TimeSpan.FromMilliseconds(50) };
    }

    private static async Task WriteAuthFileAsync(string path, string key, Dictionary<string, string> entry) =>
        await File.WriteAllTextAsync(path, JsonSerializer.Serialize(new Dictionary<string, object> { ["auths"] = new Dictionary<string, object> { [key] = entry } }));
}
