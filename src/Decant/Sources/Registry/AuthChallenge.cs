using System.Net.Http.Headers;
using System.Text;

namespace Decant.Sources.Registry;

/// <summary>
/// A registry's <c>WWW-Authenticate</c> challenge: <c>Bearer realm="…",service="…",scope="…"</c>
/// (the token flow) or <c>Basic realm="…"</c>.
/// </summary>
/// <param name="Scheme">"bearer" or "basic", lower case.</param>
/// <param name="Parameters">The challenge's parameters, names lower case.</param>
internal sealed record AuthChallenge(string Scheme, IReadOnlyDictionary<string, string> Parameters)
{
    public bool IsBearer => Scheme == "bearer";

    public bool IsBasic => Scheme == "basic";

    public string? Realm => Parameters.GetValueOrDefault("realm");

    public string? Service => Parameters.GetValueOrDefault("service");

    public string? Scope => Parameters.GetValueOrDefault("scope");

    /// <summary>The first Bearer or Basic challenge among the headers; null when there is none.</summary>
    public static AuthChallenge? From(HttpHeaderValueCollection<AuthenticationHeaderValue> headers)
    {
        AuthChallenge? basic = null;
        foreach (var header in headers)
        {
            var challenge = Parse(header.Scheme, header.Parameter);
            if (challenge.IsBearer)
            {
                return challenge;
            }
            basic ??= challenge.IsBasic ? challenge : null;
        }
        return basic;
    }

    /// <summary>Parses the parameter list <c>k=v, k="quoted \" value"</c>.</summary>
    public static AuthChallenge Parse(string scheme, string? parameters)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        string text = parameters ?? "";
        int i = 0;
        while (i < text.Length)
        {
            while (i < text.Length && (text[i] == ',' || char.IsWhiteSpace(text[i])))
            {
                i++;
            }
            int nameStart = i;
            while (i < text.Length && text[i] != '=' && text[i] != ',')
            {
                i++;
            }
            string name = text[nameStart..i].Trim().ToLowerInvariant();
            if (i >= text.Length || text[i] != '=')
            {
                continue;
            }
            i++;
            string value = ReadValue(text, ref i);
            if (name.Length > 0)
            {
                values[name] = value;
            }
        }
        return new AuthChallenge(scheme.ToLowerInvariant(), values);
    }

    private static string ReadValue(string text, ref int i)
    {
        if (i < text.Length && text[i] == '"')
        {
            var value = new StringBuilder();
            for (i++; i < text.Length && text[i] != '"'; i++)
            {
                if (text[i] == '\\' && i + 1 < text.Length)
                {
                    i++;
                }
                value.Append(text[i]);
            }
            i++;
            return value.ToString();
        }
        int start = i;
        while (i < text.Length && text[i] != ',')
        {
            i++;
        }
        return text[start..i].Trim();
    }
}
