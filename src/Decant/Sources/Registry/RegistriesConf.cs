using Tomlyn.Model;

namespace Decant.Sources.Registry;

/// <summary>One <c>[[registry.mirror]]</c> of a registries.conf.</summary>
internal sealed record RegistryMirrorConf(string Location, bool Insecure);

/// <summary>One <c>[[registry]]</c> block of a registries.conf (v2).</summary>
/// <param name="Prefix">The names it applies to: <c>host[:port][/namespace…]</c>, or a subdomain wildcard <c>*.example.com</c>.</param>
/// <param name="Location">Where those names are pulled from; empty only for a wildcard without a location: the names as they are.</param>
/// <param name="Insecure">Plain HTTP and unverified TLS allowed for the primary location.</param>
/// <param name="Blocked">Pulls of these names are refused.</param>
/// <param name="MirrorByDigestOnly">Mirrors are used only for references by digest.</param>
/// <param name="Mirrors">The mirrors, tried in order before the primary location.</param>
internal sealed record RegistryConf(string Prefix, string Location, bool Insecure, bool Blocked, bool MirrorByDigestOnly, IReadOnlyList<RegistryMirrorConf> Mirrors)
{
    /// <summary>Whether <see cref="Prefix"/> is a subdomain wildcard, <c>*.example.com</c>.</summary>
    public bool IsWildcard => Prefix.StartsWith(RegistriesConf.WildcardStart, StringComparison.Ordinal);

    /// <summary>
    /// How much of <paramref name="fullName"/> (<c>registry/repository</c>) the prefix covers, or
    /// -1 when it does not apply. A wildcard <c>*.example.com</c> covers the registry when its host
    /// is a subdomain of example.com, at any depth, with or without a port (not example.com
    /// itself); any other prefix covers itself when the name starts with it and goes on with a
    /// <c>/</c> or ends there.
    /// </summary>
    public int MatchLength(string fullName)
    {
        if (IsWildcard)
        {
            int slash = fullName.IndexOf('/', StringComparison.Ordinal);
            string registry = slash < 0 ? fullName : fullName[..slash];
            string host = RegistryEndpoint.HostOf(registry);
            string dotDomain = Prefix[1..];
            return host.Length > dotDomain.Length && host.EndsWith(dotDomain, StringComparison.Ordinal) ? registry.Length : -1;
        }
        bool matches = fullName.StartsWith(Prefix, StringComparison.Ordinal)
            && (fullName.Length == Prefix.Length || fullName[Prefix.Length] == '/' || Prefix.EndsWith('/'));
        return matches ? Prefix.Length : -1;
    }
}

/// <summary>
/// The part of containers-registries.conf(5) v2 Decant uses: <c>[[registry]]</c> blocks with
/// <c>prefix</c>, <c>location</c>, <c>insecure</c>, <c>blocked</c>, <c>mirror-by-digest-only</c>,
/// and their <c>[[registry.mirror]]</c> entries with <c>location</c> and <c>insecure</c>. The file
/// is read as TOML by <see cref="TomlConfigFile"/>; other tables and keys are ignored, a known key
/// of the wrong type is an error naming the file and line. A prefix may be a subdomain wildcard,
/// <c>*.example.com</c>, as the man page defines it: <c>*.</c> then a domain and nothing after
/// it (no port, path, tag or digest); any other prefix with a <c>*</c> is an error. A wildcard
/// entry's location may be left out, and then names are pulled as they are (its
/// <c>insecure</c>, <c>blocked</c> and mirrors still apply); given, it replaces the registry.
/// </summary>
internal static class RegistriesConf
{
    /// <summary>How a subdomain wildcard prefix starts.</summary>
    public const string WildcardStart = "*.";

    public static async Task<IReadOnlyList<RegistryConf>> ReadAsync(string path, CancellationToken cancellationToken) =>
        Registries(await TomlConfigFile.ReadAsync(path, "registries.conf", cancellationToken).ConfigureAwait(false));

    public static IReadOnlyList<RegistryConf> Parse(string text, string path) => Registries(TomlConfigFile.Parse(text, path));

    private static List<RegistryConf> Registries(TomlConfigFile file) =>
        [.. file.Tables(file.Root, "registry", "the top-level table").Select((table, index) => Registry(file, table, $"[[registry]] number {index + 1}"))];

    private static RegistryConf Registry(TomlConfigFile file, TomlTable table, string name)
    {
        string? prefix = file.String(table, "prefix", name);
        string? location = file.String(table, "location", name);
        if (prefix is null && location is null)
        {
            throw file.Error(table, null, $"{name} has neither prefix nor location");
        }
        if (location is not null && location.Contains('*', StringComparison.Ordinal))
        {
            throw file.Error(table, "location", $"location \"{location}\" of {name} holds a wildcard; only a prefix may be *.DOMAIN");
        }
        if (prefix is not null && prefix.Contains('*', StringComparison.Ordinal) && !IsWildcardPrefix(prefix))
        {
            throw file.Error(table, "prefix", $"prefix \"{prefix}\" of {name} is not a valid wildcard: a wildcard prefix is *.DOMAIN (any subdomain of DOMAIN), with nothing after the domain (no port, path, tag or digest)");
        }
        var mirrors = file.Tables(table, "mirror", name)
            .Select((mirror, index) => Mirror(file, mirror, $"[[registry.mirror]] number {index + 1} of {name}"))
            .ToList();
        return new RegistryConf(
            prefix ?? location!,
            location ?? (IsWildcardPrefix(prefix!) ? "" : prefix!),
            file.Boolean(table, "insecure", name),
            file.Boolean(table, "blocked", name),
            file.Boolean(table, "mirror-by-digest-only", name),
            mirrors);
    }

    private static RegistryMirrorConf Mirror(TomlConfigFile file, TomlTable table, string name) =>
        new(file.String(table, "location", name) ?? throw file.Error(table, null, $"{name} has no location"),
            file.Boolean(table, "insecure", name));

    /// <summary>Whether <paramref name="prefix"/> is <c>*.</c> then a domain: dot-separated labels of letters, digits and inner hyphens.</summary>
    private static bool IsWildcardPrefix(string prefix) =>
        prefix.StartsWith(WildcardStart, StringComparison.Ordinal)
        && prefix[WildcardStart.Length..].Split('.').All(label =>
            label.Length > 0 && label[0] != '-' && label[^1] != '-' && label.All(c => char.IsAsciiLetterOrDigit(c) || c == '-'));
}
