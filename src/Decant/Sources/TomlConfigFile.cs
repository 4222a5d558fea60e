using Decant.Model;
using Tomlyn;
using Tomlyn.Model;
using Tomlyn.Parsing;
using Tomlyn.Serialization;
using Tomlyn.Syntax;

namespace Decant.Sources;

/// <summary>
/// A TOML configuration file of the containers tools (registries.conf, storage.conf), read with
/// Tomlyn's document model: tables as <see cref="TomlTable"/>, through a source-generated context,
/// never reflection, so Native AOT stays clean. The whole file is validated as TOML first; then
/// its settings are read with typed accessors that ignore unknown keys and refuse a known key of
/// the wrong type. Every error is a <see cref="DecantException"/> of kind
/// <see cref="DecantErrorKind.Usage"/> whose message starts with <c>FILE:LINE:</c> (or
/// <c>FILE:</c> where no line says it better) and says what is wrong.
/// </summary>
internal sealed class TomlConfigFile
{
    private readonly TomlMetadataStore _metadata;

    private TomlConfigFile(string path, TomlTable root, TomlMetadataStore metadata)
    {
        Path = path;
        Root = root;
        _metadata = metadata;
    }

    /// <summary>The file as messages name it.</summary>
    public string Path { get; }

    /// <summary>The document's top-level table.</summary>
    public TomlTable Root { get; }

    /// <summary>Reads and parses <paramref name="path"/>; <paramref name="kind"/> names the file in a read error (<c>registries.conf</c>).</summary>
    public static async Task<TomlConfigFile> ReadAsync(string path, string kind, CancellationToken cancellationToken)
    {
        string text;
        try
        {
            text = await File.ReadAllTextAsync(path, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            throw new DecantException(DecantErrorKind.Usage, $"cannot read {kind} \"{path}\": {error.Message}", error);
        }
        return Parse(text, path);
    }

    /// <summary>Parses TOML <paramref name="text"/>; <paramref name="path"/> is what messages call the file.</summary>
    public static TomlConfigFile Parse(string text, string path)
    {
        var syntax = SyntaxParser.Parse(text, path, validate: true);
        if (syntax.Diagnostics.FirstOrDefault(d => d.Kind == DiagnosticMessageKind.Error) is { } error)
        {
            throw new DecantException(DecantErrorKind.Usage, $"{path}:{error.Span.Start.Line + 1}: {error.Message}");
        }
        var metadata = new TomlMetadataStore();
        var options = TomlDocumentContext.Default.Options with { MetadataStore = metadata, SourceName = path };
        var typeInfo = (TomlTypeInfo<TomlTable>)options.TypeInfoResolver!.GetTypeInfo(typeof(TomlTable), options)!;
        try
        {
            return new TomlConfigFile(path, TomlSerializer.Deserialize(text, typeInfo) ?? [], metadata);
        }
        catch (TomlException failure)
        {
            // The syntax check above lets nothing through that the model refuses; this names the file all the same.
            throw new DecantException(DecantErrorKind.Usage, $"{path}:{failure.Line + 1}: {failure.Message}", failure);
        }
    }

    /// <summary>
    /// The string at <paramref name="key"/> of <paramref name="table"/>, or null when it is absent
    /// or empty (the containers tools take an empty setting as unset).
    /// </summary>
    public string? String(TomlTable table, string key, string tableName) =>
        Value<string>(table, key, tableName, "a string") is { Length: > 0 } value ? value : null;

    /// <summary>The boolean at <paramref name="key"/> of <paramref name="table"/>, or false when it is absent.</summary>
    public bool Boolean(TomlTable table, string key, string tableName) =>
        table.TryGetValue(key, out var value) && (value as bool? ?? throw WrongType(table, key, tableName, "true or false", value));

    /// <summary>The array of strings at <paramref name="key"/> of <paramref name="table"/>, or empty when it is absent.</summary>
    public IReadOnlyList<string> Strings(TomlTable table, string key, string tableName)
    {
        var array = Value<TomlArray>(table, key, tableName, "an array of strings");
        return array is null ? [] : [.. array.Select(item => item as string ?? throw WrongType(table, key, tableName, "an array of strings", item))];
    }

    /// <summary>The table at <paramref name="key"/> of <paramref name="table"/>, or null when it is absent.</summary>
    public TomlTable? Table(TomlTable table, string key, string tableName) =>
        Value<TomlTable>(table, key, tableName, "a table");

    /// <summary>
    /// The array of tables at <paramref name="key"/> of <paramref name="table"/> (<c>[[key]]</c>
    /// blocks, or an array of inline tables), or empty when it is absent.
    /// </summary>
    public IReadOnlyList<TomlTable> Tables(TomlTable table, string key, string tableName)
    {
        if (!table.TryGetValue(key, out var value))
        {
            return [];
        }
        return value switch
        {
            TomlTableArray tables => [.. tables],
            TomlArray array when array.All(item => item is TomlTable) => [.. array.Cast<TomlTable>()],
            _ => throw WrongType(table, key, tableName, $"an array of tables ([[{key}]])", value),
        };
    }

    /// <summary>
    /// An error about <paramref name="key"/> of <paramref name="table"/> (or, with no key, about the
    /// table itself), at the line that key (or the table's first key) is written on.
    /// </summary>
    public DecantException Error(TomlTable table, string? key, string message) =>
        new(DecantErrorKind.Usage, (LineOf(table, key) is { } line ? $"{Path}:{line}: " : $"{Path}: ") + message);

    private T? Value<T>(TomlTable table, string key, string tableName, string expected)
        where T : class =>
        !table.TryGetValue(key, out var value) ? null : value as T ?? throw WrongType(table, key, tableName, expected, value);

    private DecantException WrongType(TomlTable table, string key, string tableName, string expected, object? value) =>
        Error(table, key, $"{key} in {tableName} must be {expected}, not {Describe(value)}");

    /// <summary>The 1-based line of <paramref name="key"/> in <paramref name="table"/>, or of the table's first key when <paramref name="key"/> is null.</summary>
    private int? LineOf(TomlTable table, string? key)
    {
        if (!_metadata.TryGetProperties(table, out var properties) || properties is null)
        {
            return null;
        }
        var keys = key is null ? table.Keys : [key];
        var lines = keys
            .Select(k => properties.TryGetProperty(k, out var property) && property?.Span is { } span ? span.Start.Line + 1 : (int?)null)
            .Where(line => line is not null);
        return lines.Min();
    }

    private static string Describe(object? value) => value switch
    {
        string text => $"the string \"{text}\"",
        bool flag => flag ? "true" : "false",
        long or double => $"the number {value}",
        TomlDateTime => "a date",
        TomlTable or TomlTableArray => "a table",
        TomlArray => "an array",
        null => "empty",
        _ => "a " + value.GetType().Name,
    };
}

/// <summary>The source-generated Tomlyn metadata for the document model: <see cref="TomlTable"/> and what it holds.</summary>
[TomlSerializable(typeof(TomlTable))]
internal sealed partial class TomlDocumentContext : TomlSerializerContext;
