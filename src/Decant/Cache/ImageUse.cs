using System.Buffers;
using System.Globalization;
using System.Text.Json;

namespace Decant.Cache;

/// <summary>
/// An image exported through the cache, as <c>images/sha256/MANIFESTHEX</c> remembers it: for
/// listing only (which layers belong to what the user asked for). Nothing depends on it, so losing
/// or removing one is harmless. Stored as a small JSON object written and read without the
/// reflection serializer.
/// </summary>
/// <param name="Reference">The reference the user gave (<c>alpine:3.20</c>, a path, a digest).</param>
/// <param name="ManifestDigest">The digest of the image manifest exported (<c>sha256:HEX</c>).</param>
/// <param name="Platform">The platform chosen, as <c>os/architecture[/variant]</c>.</param>
/// <param name="Layers">The layers' diff_ids, bottom first.</param>
/// <param name="LastUsed">When it was last exported.</param>
public sealed record ImageUse(string Reference, string ManifestDigest, string Platform, IReadOnlyList<string> Layers, DateTimeOffset LastUsed)
{
    /// <summary>The JSON form.</summary>
    internal byte[] ToJson()
    {
        var buffer = new ArrayBufferWriter<byte>(512);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("reference", Reference);
            json.WriteString("manifest", ManifestDigest);
            json.WriteString("platform", Platform);
            json.WriteStartArray("layers");
            foreach (string layer in Layers)
            {
                json.WriteStringValue(layer);
            }
            json.WriteEndArray();
            json.WriteString("lastUsed", LastUsed.ToUniversalTime().ToString("O", CultureInfo.InvariantCulture));
            json.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>The image <paramref name="json"/> describes; null when it is not such a JSON object.</summary>
    internal static ImageUse? Parse(ReadOnlyMemory<byte> json)
    {
        try
        {
            using var document = JsonDocument.Parse(json);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object
                || !root.TryGetProperty("reference", out var reference) || reference.ValueKind != JsonValueKind.String
                || !root.TryGetProperty("manifest", out var manifest) || manifest.ValueKind != JsonValueKind.String
                || !root.TryGetProperty("platform", out var platform) || platform.ValueKind != JsonValueKind.String
                || !root.TryGetProperty("layers", out var layers) || layers.ValueKind != JsonValueKind.Array
                || !root.TryGetProperty("lastUsed", out var lastUsed) || !lastUsed.TryGetDateTimeOffset(out var time))
            {
                return null;
            }
            var diffIds = new List<string>(layers.GetArrayLength());
            foreach (var layer in layers.EnumerateArray())
            {
                if (layer.ValueKind != JsonValueKind.String)
                {
                    return null;
                }
                diffIds.Add(layer.GetString()!);
            }
            return new ImageUse(reference.GetString()!, manifest.GetString()!, platform.GetString()!, diffIds, time);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
