using System.Text.Json.Serialization;

namespace Decant.Sources.Registry;

/// <summary>A token server's answer (Docker token spec and OAuth2): <c>token</c> or <c>access_token</c>, and a lifetime.</summary>
internal sealed record TokenResponse
{
    [JsonPropertyName("token")] public string? Token { get; init; }
    [JsonPropertyName("access_token")] public string? AccessToken { get; init; }
    [JsonPropertyName("expires_in")] public int? ExpiresIn { get; init; }
}

/// <summary>An auth.json or Docker config.json: the parts that hold credentials.</summary>
internal sealed record AuthFileDocument
{
    [JsonPropertyName("auths")] public Dictionary<string, AuthFileEntry>? Auths { get; init; }
    [JsonPropertyName("credHelpers")] public Dictionary<string, string>? CredentialHelpers { get; init; }
    [JsonPropertyName("credsStore")] public string? CredentialStore { get; init; }
}

/// <summary>One <c>auths</c> entry: base64 <c>user:pass</c>, or the two fields, or an identity token.</summary>
internal sealed record AuthFileEntry
{
    [JsonPropertyName("auth")] public string? Auth { get; init; }
    [JsonPropertyName("username")] public string? Username { get; init; }
    [JsonPropertyName("password")] public string? Password { get; init; }
    [JsonPropertyName("identitytoken")] public string? IdentityToken { get; init; }
}

/// <summary>What <c>docker-credential-NAME get</c> prints.</summary>
internal sealed record CredentialHelperOutput
{
    [JsonPropertyName("Username")] public string? Username { get; init; }
    [JsonPropertyName("Secret")] public string? Secret { get; init; }
}

/// <summary>A distribution-spec error body: <c>{"errors":[{"code":…,"message":…}]}</c>.</summary>
internal sealed record RegistryErrorBody
{
    [JsonPropertyName("errors")] public IReadOnlyList<RegistryErrorEntry>? Errors { get; init; }
}

internal sealed record RegistryErrorEntry
{
    [JsonPropertyName("code")] public string? Code { get; init; }
    [JsonPropertyName("message")] public string? Message { get; init; }
}

[JsonSourceGenerationOptions(ReadCommentHandling = System.Text.Json.JsonCommentHandling.Disallow)]
[JsonSerializable(typeof(TokenResponse))]
[JsonSerializable(typeof(AuthFileDocument))]
[JsonSerializable(typeof(CredentialHelperOutput))]
[JsonSerializable(typeof(RegistryErrorBody))]
internal sealed partial class RegistryJsonContext : JsonSerializerContext;
