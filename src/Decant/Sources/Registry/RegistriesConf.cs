using Decant.Model;

namespace Decant.Sources.Registry;

/// <summary>One <c>[[registry.mirror]]</c> of a registries.conf.</summary>
internal sealed record RegistryMirrorConf(string Location, bool Insecure);

/// <summary>One <c>[[registry]]</c> block of a registries.conf (v2).</summary>
internal sealed record RegistryConf(string Prefix, string Location, bool Insecure, bool Blocked, bool MirrorByDigestOnly, IReadOnlyList<RegistryMirrorConf> Mirrors);

/// <summary>
/// The part of containers-registries.conf(5) v2 Decant uses: <c>[[registry]]</c> blocks with
/// <c>prefix</c>, <c>location</c>, <c>insecure</c>, <c>blocked</c>, <c>mirror-by-digest-only</c>,
/// and their <c>[[registry.mirror]]</c> entries with <c>location</c> and <c>insecure</c>. A small
/// line-based reader of the TOML subset those fields use (strings, booleans, comments); other
/// tables and keys are skipped. Wildcard prefixes (<c>*.example.com</c>) are not supported.
/// </summary>
internal static class RegistriesConf
{
    public static async Task<IReadOnlyList<RegistryConf>> ReadAsync(string path, CancellationToken cancellationToken)
    {
        string text;
        try
        {
            text = await File.ReadAllTextAsync(path, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            throw new DecantException(DecantErrorKind.Usage, $"cannot read registries.conf \"{path}\": {error.Message}", error);
        }
        return Parse(text, path);
    }

    public static IReadOnlyList<RegistryConf> Parse(string text, string path)
    {
        var registries = new List<Builder>();
        Builder? registry = null;
        Dictionary<string, object>? table = null;
        int lineNumber = 0;
        foreach (string rawLine in text.Split('\n'))
        {
            lineNumber++;
            string line = StripComment(rawLine).Trim();
            if (line.Length == 0)
            {
                continue;
            }
            if (line.StartsWith('['))
            {
                string header = line.Trim('[', ']', ' ');
                if (line.StartsWith("[[", StringComparison.Ordinal) && header == "registry")
                {
                    registry = new Builder();
                    registries.Add(registry);
                    table = registry.Values;
                }
                else if (line.StartsWith("[[", StringComparison.Ordinal) && header == "registry.mirror" && registry is not null)
                {
                    table = [];
                    registry.Mirrors.Add(table);
                }
                else
                {
                    table = null; // a table Decant does not use
                }
                continue;
            }
            int equals = line.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0)
            {
                throw new DecantException(DecantErrorKind.Usage, $"{path}:{lineNumber}: expected KEY = VALUE");
            }
            if (table is not null && ParseValue(line[(equals + 1)..].Trim()) is { } value)
            {
                table[line[..equals].Trim().Trim('"')] = value;
            }
        }
        return [.. registries.Select((b, i) => b.Build(path, i))];
    }

    private static object? ParseValue(string value) => value switch
    {
        "true" => true,
        "false" => false,
        _ when value.Length >= 2 && (value[0] == '"' || value[0] == '\'') && value[^1] == value[0] => value[1..^1],
        _ => null, // arrays, numbers, inline tables: not used here
    };

    private static string StripComment(string line)
    {
        char quote = '\0';
        for (int i = 0; i < line.Length; i++)
        {
            char c = line[i];
            if (quote != '\0')
            {
                if (c == quote)
                {
                    quote = '\0';
                }
            }
            else if (c is '"' or '\'')
            {
                quote = c;
            }
            else if (c == '#')
            {
                return line[..i];
            }
        }
        return line;
    }

    private sealed class Builder
    {
        public Dictionary<string, object> Values { get; } = [];

        public List<Dictionary<string, object>> Mirrors { get; } = [];

        public RegistryConf Build(string path, int index)
        {
            string? location = Values.GetValueOrDefault("location") as string;
            string? prefix = Values.GetValueOrDefault("prefix") as string;
            if (string.IsNullOrEmpty(prefix) && string.IsNullOrEmpty(location))
            {
                throw new DecantException(DecantErrorKind.Usage, $"{path}: [[registry]] number {index + 1} has neither prefix nor location");
            }
            var mirrors = Mirrors.Select(m => new RegistryMirrorConf(
                m.GetValueOrDefault("location") as string ?? throw new DecantException(DecantErrorKind.Usage, $"{path}: a [[registry.mirror]] of [[registry]] number {index + 1} has no location"),
                m.GetValueOrDefault("insecure") is true)).ToList();
            return new RegistryConf(
                string.IsNullOrEmpty(prefix) ? location! : prefix,
                string.IsNullOrEmpty(location) ? prefix! : location,
                Values.GetValueOrDefault("insecure") is true,
                Values.GetValueOrDefault("blocked") is true,
                Values.GetValueOrDefault("mirror-by-digest-only") is true,
                mirrors);
        }
    }
}
