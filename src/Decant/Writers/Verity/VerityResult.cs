using System.Text.Json;
using System.Text.Json.Serialization;

namespace Decant.Writers.Verity;

/// <summary>
/// The dm-verity hash tree a disk image carries after its filesystem: everything
/// <c>veritysetup verify IMAGE IMAGE ROOTHASH --hash-offset HASHOFFSET</c> (or <c>veritysetup
/// open</c>) needs. <see cref="ToJson"/> gives it as one JSON object, the <c>--verity-out</c> file.
/// </summary>
public sealed record VerityResult
{
    /// <summary>The root hash, lowercase hex.</summary>
    public required string RootHash { get; init; }

    /// <summary>Where the verity superblock starts, in bytes from the start of the image: the filesystem's size rounded up to a whole data block.</summary>
    public required long HashOffset { get; init; }

    /// <summary>The salt, lowercase hex (empty for no salt).</summary>
    public required string Salt { get; init; }

    /// <summary>The hash algorithm, as the kernel names it (<c>sha256</c>).</summary>
    public required string Algorithm { get; init; }

    /// <summary>The data block size in bytes.</summary>
    public required int DataBlockSize { get; init; }

    /// <summary>The hash block size in bytes.</summary>
    public required int HashBlockSize { get; init; }

    /// <summary>How many data blocks the tree covers: <see cref="HashOffset"/> / <see cref="DataBlockSize"/>.</summary>
    public required long DataBlocks { get; init; }

    /// <summary>
    /// This result as one JSON object: <c>{"rootHash", "hashOffset", "salt", "algorithm",
    /// "dataBlockSize", "hashBlockSize", "dataBlocks"}</c>, hex strings for the hash and the salt,
    /// integers for the rest.
    /// </summary>
    public string ToJson() => JsonSerializer.Serialize(this, VerityJsonContext.Default.VerityResult);

    /// <summary>Writes the object <see cref="ToJson"/> gives into <paramref name="writer"/> (as a value: after a property name, in an array, or alone).</summary>
    public void WriteTo(Utf8JsonWriter writer) => JsonSerializer.Serialize(writer, this, VerityJsonContext.Default.VerityResult);
}

/// <summary>The source-generated JSON of <see cref="VerityResult"/> (no reflection: the CLI is Native AOT).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true)]
[JsonSerializable(typeof(VerityResult))]
internal sealed partial class VerityJsonContext : JsonSerializerContext;
