using Tomlyn.Model;

namespace Decant.Sources.Registry;

/// <summary>One <c>[[registry.mirror]]</c> of a registries.conf.</summary>
internal sealed record RegistryMirrorConf(string Location, bool Insecure);

/// <summary>One <c>[[registry]]</c> block of a registries.conf (v2).</summary>
internal sealed record RegistryConf(string Prefix, string Location, bool Insecure, bool Blocked, bool MirrorByDigestOnly, IReadOnlyList<RegistryMirrorConf> Mirrors);

/// <summary>
/// The part of containers-registries.conf(5) v2 Decant uses: <c>[[registry]]</c> blocks with
/// <c>prefix</c>, <c>location</c>, <c>insecure</c>, <c>blocked</c>, <c>mirror-by-digest-only</c>,
/// and their <c>[[registry.mirror]]</c> entries with <c>location</c> and <c>insecure</c>. The file
/// is read as TOML by <see cref="TomlConfigFile"/>; other tables and keys are ignored, a known key
/// of the wrong type is an error naming the file and line. Wildcard prefixes
/// (<c>*.example.com</c>) are not supported.
/// </summary>
internal static class RegistriesConf
{
    public static async Task<IReadOnlyList<RegistryConf>> ReadAsync(string path, CancellationToken cancellationToken) =>
        Registries(await TomlConfigFile.ReadAsync(path, "registries.conf", cancellationToken).ConfigureAwait(false));

    public static IReadOnlyList<RegistryConf> Parse(string text, string path) => Registries(TomlConfigFile.Parse(text, path));

    private static List<RegistryConf> Registries(TomlConfigFile file) =>
        [.. file.Tables(file.Root, "registry", "the top-level table").Select((table, index) => Registry(file, table, $"[[registry]] number {index + 1}"))];

    private static RegistryConf Registry(TomlConfigFile file, TomlTable table, string name)
    {
        string? prefix = NonEmpty(file.String(table, "prefix", name));
        string? location = NonEmpty(file.String(table, "location", name));
        if (prefix is null && location is null)
        {
            throw file.Error(table, null, $"{name} has neither prefix nor location");
        }
        var mirrors = file.Tables(table, "mirror", name)
            .Select((mirror, index) => Mirror(file, mirror, $"[[registry.mirror]] number {index + 1} of {name}"))
            .ToList();
        return new RegistryConf(
            prefix ?? location!,
            location ?? prefix!,
            file.Boolean(table, "insecure", name),
            file.Boolean(table, "blocked", name),
            file.Boolean(table, "mirror-by-digest-only", name),
            mirrors);
    }

    private static RegistryMirrorConf Mirror(TomlConfigFile file, TomlTable table, string name) =>
        new(NonEmpty(file.String(table, "location", name)) ?? throw file.Error(table, null, $"{name} has no location"),
            file.Boolean(table, "insecure", name));

    private static string? NonEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;
}
