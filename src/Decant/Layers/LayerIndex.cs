using Decant.Tree;

namespace Decant.Layers;

/// <summary>
/// One tar entry of a layer after reading: its header, whether it is a whiteout and, for a regular
/// file, its stored content. The cleaned path is not kept (it is recomputed when applied), so a
/// layer with a million entries costs a million names, not two copies of each.
/// </summary>
public sealed class IndexedEntry
{
    /// <summary>The entry's tar metadata as read, with its archive (uncleaned) name.</summary>
    public required TarHeader Header { get; init; }

    /// <summary>Whether the entry is a whiteout (plain or opaque), aufs metadata, or an ordinary entry.</summary>
    public Semantics.Whiteout.Kind Whiteout { get; init; }

    /// <summary>The cleaned path components (empty for the root entry); the name was checked when the layer was read.</summary>
    public string[] CleanPath() => Semantics.LayerPath.Clean(Header.Name);

    /// <summary>For a regular file, where its bytes were stored.</summary>
    public ContentRef? Content { get; init; }
}

/// <summary>A layer read once: every entry in archive order, contents already in the writer's store.</summary>
public sealed class LayerIndex
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
