using System.Formats.Tar;
using System.IO.Compression;
using System.Runtime.CompilerServices;
using Decant.Tests.Support;

namespace Decant.Tests.Differential;

/// <summary>What <see cref="LayerEntries"/> reports about one entry of a layer tar (<paramref name="Length"/>: the bytes of content it carries).</summary>
internal sealed record LayerTarEntry(string Name, bool IsDirectory, bool IsRegularFile, long Length, IReadOnlyDictionary<string, string> Xattrs);

/// <summary>Reads the entries of a real layer blob with System.Formats.Tar (independently of Decant's own tar reader).</summary>
internal static class LayerEntries
{
    public const string XattrPrefix = "SCHILY.xattr.";

    public static async IAsyncEnumerable<LayerTarEntry> ReadAsync(RealImageLayer layer, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        string mediaType = layer.Descriptor.MediaType;
        var file = File.OpenRead(layer.BlobPath);
        await using (file.ConfigureAwait(false))
        {
            Stream tar = mediaType.EndsWith("+gzip", StringComparison.Ordinal) ? new GZipStream(file, CompressionMode.Decompress)
                : mediaType.EndsWith(".tar", StringComparison.Ordinal) ? file
                : throw new InvalidDataException($"layer {layer.Descriptor.Digest} has media type {mediaType}, which this test reader does not decompress");
            await using (tar.ConfigureAwait(false))
            {
                var reader = new TarReader(tar);
                await using (reader.ConfigureAwait(false))
                {
                    while (await reader.GetNextEntryAsync(copyData: false, cancellationToken).ConfigureAwait(false) is { } entry)
                    {
                        yield return new LayerTarEntry(entry.Name, entry.EntryType == TarEntryType.Directory,
                            entry.EntryType is TarEntryType.RegularFile or TarEntryType.V7RegularFile, entry.Length, XattrsOf(entry));
                    }
                }
            }
        }
    }

    /// <summary>The <c>SCHILY.xattr.*</c> records of a PAX entry, by xattr name (values as System.Formats.Tar decodes them, UTF-8).</summary>
    public static IReadOnlyDictionary<string, string> XattrsOf(TarEntry entry) =>
        entry is PaxTarEntry pax
            ? pax.ExtendedAttributes.Where(x => x.Key.StartsWith(XattrPrefix, StringComparison.Ordinal)).ToDictionary(x => x.Key[XattrPrefix.Length..], x => x.Value, StringComparer.Ordinal)
            : new Dictionary<string, string>(StringComparer.Ordinal);
}
