using Decant.Tree;

namespace Decant.Layers;

/// <summary>
/// One tar entry of a layer after reading: its header and, for a regular file, its stored content.
/// What the entry means (a whiteout, an ordinary file) is decided when the layer rules apply it.
/// </summary>
internal sealed class IndexedEntry
{
    /// <summary>The entry's tar metadata as read, with its archive (uncleaned) name.</summary>
    public required TarHeader Header { get; init; }

    /// <summary>For a regular file, where its bytes were stored.</summary>
    public ContentRef? Content { get; init; }
}

/// <summary>A layer read once: every entry in archive order, contents already in the writer's store.</summary>
internal sealed class LayerIndex
{
    /// <summary>The layer's (compressed) digest, for messages.</summary>
    public required string Digest { get; init; }

    /// <summary>Every entry of the layer in archive order, whiteouts included; later entries for the same path win when applied.</summary>
    public required IReadOnlyList<IndexedEntry> Entries { get; init; }

    /// <summary>The sha256 of the uncompressed tar, which must equal the config's diff_id.</summary>
    public required string DiffId { get; init; }

    /// <summary>The size in bytes of the whole uncompressed stream, end-of-archive blocks and anything after them included: what <see cref="DiffId"/> covers.</summary>
    public long UncompressedBytes { get; init; }
}
