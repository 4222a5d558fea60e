using System.Net.Http.Headers;
using System.Text;

namespace Decant.Sources.Registry;

/// <summary>
/// Credentials for one registry: a user name and password, or an identity (refresh) token.
/// <see cref="Source"/> says where they came from, for messages; secrets never appear in it.
/// </summary>
internal sealed record RegistryCredential(string Username, string Password, string? IdentityToken, string Source)
{
    /// <summary>The <c>Authorization: Basic</c> value for these credentials.</summary>
    public AuthenticationHeaderValue ToBasicHeader() =>
        new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(Username + ":" + Password)));

    public override string ToString() => $"credentials of \"{Username}\" from {Source}";
}

/// <summary>The outcome of a credential search: what was found (if anything) and where Decant looked.</summary>
/// <param name="Credential">The credentials, or null for anonymous access.</param>
/// <param name="Searched">Where Decant looked, for the message when a registry refuses anonymous access.</param>
internal sealed record CredentialLookup(RegistryCredential? Credential, string Searched)
{
    /// <summary>Says what was tried: the credential's source, or anonymous plus where Decant looked.</summary>
    public string DescribeTried() => Credential is { } credential
        ? credential.ToString()
        : $"anonymous access (no credentials found; searched {Searched})";
}
