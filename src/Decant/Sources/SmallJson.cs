using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Decant.Model;

namespace Decant.Sources;

/// <summary>
/// Reading the small JSON documents an image is described by (index.json, manifests, configs,
/// manifest.json) with a hard size cap, so a hostile source cannot make Decant buffer gigabytes
/// (CVE-2023-25153), and parsing them through source-generated contexts with clear errors.
/// </summary>
internal static class SmallJson
{
    /// <summary>The largest manifest, index or config Decant reads: 4 MiB.</summary>
    public const int MaxDocumentSize = 4 * 1024 * 1024;

    /// <summary>
    /// Reads <paramref name="stream"/> to its end, failing with <see cref="DecantErrorKind.LimitExceeded"/>
    /// as soon as more than <paramref name="cap"/> bytes arrive.
    /// </summary>
    public static async Task<byte[]> ReadCappedAsync(Stream stream, int cap, string what, CancellationToken cancellationToken)
    {
        byte[] buffer = new byte[Math.Min(cap + 1, 64 * 1024)];
        int filled = 0;
        while (true)
        {
            if (filled == buffer.Length)
            {
                if (buffer.Length > cap)
                {
                    throw TooLarge(what, cap);
                }
                Array.Resize(ref buffer, (int)Math.Min((long)buffer.Length * 2, cap + 1L));
            }
            int read = await stream.ReadAsync(buffer.AsMemory(filled), cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                return buffer.AsSpan(0, filled).ToArray();
            }
            filled += read;
        }
    }

    public static DecantException TooLarge(string what, long cap) =>
        new(DecantErrorKind.LimitExceeded, $"{what} is larger than the {cap / (1024 * 1024)} MiB limit for JSON documents");

    /// <summary>Parses <paramref name="bytes"/>; malformed JSON or a JSON <c>null</c> is <see cref="DecantErrorKind.InvalidManifest"/>.</summary>
    public static T Deserialize<T>(ReadOnlySpan<byte> bytes, JsonTypeInfo<T> typeInfo, string what)
        where T : class
    {
        try
        {
            return JsonSerializer.Deserialize(bytes, typeInfo)
                ?? throw new DecantException(DecantErrorKind.InvalidManifest, $"{what} is JSON null");
        }
        catch (JsonException error)
        {
            throw new DecantException(DecantErrorKind.InvalidManifest, $"{what} {Describe(bytes, error)}", error);
        }
    }

    /// <summary>Fails when a list from a document holds a JSON <c>null</c>, naming the document and the element.</summary>
    public static void RequireNoNulls<T>(IReadOnlyList<T?>? list, string what, string field)
        where T : class
    {
        for (int i = 0; list is not null && i < list.Count; i++)
        {
            if (list[i] is null)
            {
                throw new DecantException(DecantErrorKind.InvalidManifest, $"{what}: field {field}[{i}] is null");
            }
        }
    }

    /// <summary>
    /// What is wrong with a document the serializer refused: a syntax error, or, in well-formed
    /// JSON, the field (by its JSON path) that is null or of a type the document does not allow there.
    /// </summary>
    private static string Describe(ReadOnlySpan<byte> bytes, JsonException error)
    {
        if (error.Path is not { Length: > 1 } path)
        {
            return $"is not valid JSON: {error.Message}";
        }
        try
        {
            var reader = new Utf8JsonReader(bytes);
            using var document = JsonDocument.ParseValue(ref reader);
            string field = path.StartsWith("$.", StringComparison.Ordinal) ? path[2..] : path;
            return Find(document.RootElement, path) is { } value
                ? $"has an invalid field {field}: {(value.ValueKind == JsonValueKind.Null ? "null where a value is required" : $"a {value.ValueKind.ToString().ToLowerInvariant()} is not allowed there")}"
                : $"has an invalid field {field}";
        }
        catch (JsonException)
        {
            return $"is not valid JSON: {error.Message}";
        }
    }

    /// <summary>The element at a serializer path such as <c>$.manifests[0].size</c> or <c>$['os.version']</c>.</summary>
    private static JsonElement? Find(JsonElement root, string path)
    {
        var current = root;
        int i = 1;
        while (i < path.Length)
        {
            string? name = null;
            int? index = null;
            if (path[i] == '.')
            {
                int end = path.IndexOfAny(['.', '['], i + 1);
                end = end < 0 ? path.Length : end;
                name = path[(i + 1)..end];
                i = end;
            }
            else if (path.AsSpan(i).StartsWith("['"))
            {
                int end = path.IndexOf("']", i + 2, StringComparison.Ordinal);
                if (end < 0)
                {
                    return null;
                }
                name = path[(i + 2)..end];
                i = end + 2;
            }
            else if (path[i] == '[')
            {
                int end = path.IndexOf(']', i);
                if (end < 0 || !int.TryParse(path.AsSpan(i + 1, end - i - 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int n))
                {
                    return null;
                }
                index = n;
                i = end + 1;
            }
            else
            {
                return null;
            }
            if (name is not null && current.ValueKind == JsonValueKind.Object && current.TryGetProperty(name, out var child))
            {
                current = child;
            }
            else if (index is { } n && current.ValueKind == JsonValueKind.Array && n < current.GetArrayLength())
            {
                current = current[n];
            }
            else
            {
                return null;
            }
        }
        return current;
    }
}
