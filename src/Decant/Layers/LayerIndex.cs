using Decant.Tree;

namespace Decant.Layers;

/// <summary>One tar entry of a layer after reading: its header, its cleaned path and, for a regular file, its stored content.</summary>
public sealed class IndexedEntry
{
    public required TarHeader Header { get; init; }

    /// <summary>The cleaned path components (empty for the root entry).</summary>
    public required string[] Path { get; init; }

    /// <summary>For a regular file, where its bytes were stored.</summary>
    public ContentRef? Content { get; init; }
}

/// <summary>A layer read once: every entry in archive order, contents already in the writer's store.</summary>
public sealed class LayerIndex
{
    /// <summary>The layer's (compressed) digest, for messages.</summary>
    public required string Digest { get; init; }

    public required IReadOnlyList<IndexedEntry> Entries { get; init; }

    /// <summary>The sha256 of the uncompressed tar, which must equal the config's diff_id.</summary>
    public required string DiffId { get; init; }

    public long UncompressedBytes { get; init; }
}
