using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Decant.Errors;

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
            throw new DecantException(DecantErrorKind.InvalidManifest, $"{what} is not valid JSON: {error.Message}", error);
        }
    }
}
