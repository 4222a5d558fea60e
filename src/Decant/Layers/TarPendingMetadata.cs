using Decant.Model;
namespace Decant.Layers;

/// <summary>
/// What PAX ('x') and GNU long-name ('L', 'K') records say about the entry that follows them.
/// Reused from entry to entry; every field left null means "use the header block's value".
/// </summary>
internal sealed class TarPendingMetadata
{
    public string? Path { get; set; }
    public string? LinkPath { get; set; }
    public string? LongName { get; set; }
    public string? LongLinkName { get; set; }
    public long? Size { get; set; }
    public long? Uid { get; set; }
    public long? Gid { get; set; }
    public string? UserName { get; set; }
    public string? GroupName { get; set; }
    public Timestamp? ModificationTime { get; set; }
    public Timestamp? AccessTime { get; set; }
    public List<KeyValuePair<string, byte[]>>? Xattrs { get; set; }
    /// <summary>Where each xattr name sits in <see cref="Xattrs"/>, so repeats are found in constant time.</summary>
    public Dictionary<string, int>? XattrIndex { get; set; }
    public long XattrBytes { get; set; }

    /// <summary>How many PAX bytes this entry has carried so far, over all its 'x' headers.</summary>
    public long PaxBytes { get; set; }

    /// <summary>Whether any record was seen (an archive must not end right after one).</summary>
    public bool Any { get; set; }

    public long? SparseMajor { get; set; }
    public long? SparseMinor { get; set; }
    public string? SparseName { get; set; }
    /// <summary>The expanded size: <c>GNU.sparse.realsize</c> (1.0) or <c>GNU.sparse.size</c> (0.x).</summary>
    public long? SparseRealSize { get; set; }
    /// <summary>The 0.x map: from <c>GNU.sparse.map</c> (0.1) or repeated offset/numbytes records (0.0).</summary>
    public List<TarSparseSegment>? SparseMap { get; set; }
    /// <summary>A 0.0 <c>GNU.sparse.offset</c> waiting for its <c>GNU.sparse.numbytes</c>.</summary>
    public long? SparsePendingOffset { get; set; }

    public bool IsSparse => SparseMajor is not null || SparseMap is not null || SparseRealSize is not null;

    public void Clear()
    {
        Path = LinkPath = LongName = LongLinkName = UserName = GroupName = SparseName = null;
        Size = Uid = Gid = SparseMajor = SparseMinor = SparseRealSize = SparsePendingOffset = null;
        ModificationTime = AccessTime = null;
        Xattrs = null;
        XattrIndex = null;
        SparseMap = null;
        XattrBytes = PaxBytes = 0;
        Any = false;
    }
}
