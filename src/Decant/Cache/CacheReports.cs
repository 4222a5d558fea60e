namespace Decant.Cache;

/// <summary>
/// A layer kept in the cache, as <see cref="DecantCache.ListAsync"/> finds it. Bytes are disk
/// space (allocated blocks: objects may be sparse); an object shared with other layers counts in each.
/// </summary>
/// <param name="DiffId">The layer's diff_id.</param>
/// <param name="RecordBytes">The disk space of its record.</param>
/// <param name="ObjectCount">How many distinct objects the record refers to.</param>
/// <param name="ObjectBytes">The disk space of those objects that are present.</param>
/// <param name="Complete">Whether the record is readable and every object it refers to is present at its size (otherwise an export converts the layer again).</param>
/// <param name="LastUsed">When an export last used it.</param>
/// <param name="Images">The references of the recorded images that contain it.</param>
public sealed record CachedLayer(string DiffId, long RecordBytes, int ObjectCount, long ObjectBytes, bool Complete, DateTimeOffset LastUsed, IReadOnlyList<string> Images);

/// <summary>An image recorded in the cache.</summary>
/// <param name="Image">What was recorded of it.</param>
/// <param name="CachedLayers">How many of its layers have a record.</param>
/// <param name="Bytes">The disk space of those records and of the distinct objects they refer to.</param>
public sealed record CachedImage(ImageUse Image, int CachedLayers, long Bytes);

/// <summary>What the cache holds, most recently used first.</summary>
/// <param name="Layers">The layers with a record.</param>
/// <param name="Images">The images recorded.</param>
public sealed record CacheListing(IReadOnlyList<CachedLayer> Layers, IReadOnlyList<CachedImage> Images);

/// <summary>The cache's disk usage, by kind; bytes are allocated disk space unless said otherwise.</summary>
/// <param name="Records">How many layer records.</param>
/// <param name="RecordBytes">Their disk space.</param>
/// <param name="Objects">How many content objects.</param>
/// <param name="ObjectBytes">Their disk space (st_blocks × 512; less than their size when sparse).</param>
/// <param name="ObjectApparentBytes">Their sizes' sum.</param>
/// <param name="Images">How many image records.</param>
/// <param name="ImageBytes">Their disk space.</param>
/// <param name="UnreferencedObjects">Objects no record refers to, which gc removes.</param>
/// <param name="ReclaimableBytes">Their disk space.</param>
/// <param name="TemporaryFiles">Files in <c>tmp/</c>: being written by running processes, or left by dead ones.</param>
/// <param name="TemporaryBytes">Their disk space.</param>
public sealed record CacheUsage(int Records, long RecordBytes, int Objects, long ObjectBytes, long ObjectApparentBytes, int Images, long ImageBytes, int UnreferencedObjects, long ReclaimableBytes, int TemporaryFiles, long TemporaryBytes)
{
    /// <summary>The disk space of everything counted.</summary>
    public long TotalBytes => RecordBytes + ObjectBytes + ImageBytes + TemporaryBytes;
}

/// <summary>What the sweep (gc) removed.</summary>
/// <param name="ObjectsSwept">Whether the object sweep ran; false when it was asked not to wait and a conversion held <c>gc.lock</c> ("skipped, busy").</param>
/// <param name="ObjectsRemoved">Objects no record referred to.</param>
/// <param name="BytesFreed">Their disk space.</param>
/// <param name="LeftoversRemoved">Temporary files of dead processes.</param>
/// <param name="LockFilesRemoved">Lock files of layers without a record that no one held.</param>
/// <param name="ImagesRemoved">Image records none of whose layers have a record any more, or unreadable.</param>
public sealed record SweepReport(bool ObjectsSwept, int ObjectsRemoved, long BytesFreed, int LeftoversRemoved, int LockFilesRemoved, int ImagesRemoved);

/// <summary>What prune removed.</summary>
/// <param name="LayersRemoved">The diff_ids whose records were removed, least recently used first.</param>
/// <param name="LayersInUse">The diff_ids that were due for removal but locked by an export or a conversion, and kept.</param>
/// <param name="RecordBytesFreed">The disk space of the records removed.</param>
/// <param name="Sweep">The sweep that followed.</param>
/// <param name="RemainingBytes">The disk space of what the kept records need (records, the objects they refer to, image records), after the prune.</param>
public sealed record PruneReport(IReadOnlyList<string> LayersRemoved, IReadOnlyList<string> LayersInUse, long RecordBytesFreed, SweepReport Sweep, long RemainingBytes)
{
    /// <summary>The disk space freed: records and objects.</summary>
    public long BytesFreed => RecordBytesFreed + Sweep.BytesFreed;
}

/// <summary>A layer record that verify found broken.</summary>
/// <param name="DiffId">Its diff_id.</param>
/// <param name="Problem">What is wrong with it.</param>
/// <param name="Removed">Whether it was removed; false when an export or conversion held its lock (an export converts it again anyway when an object is missing).</param>
public sealed record BrokenLayer(string DiffId, string Problem, bool Removed);

/// <summary>What verify checked and found.</summary>
/// <param name="LayersChecked">Records checked.</param>
/// <param name="ObjectsChecked">Objects hashed (each once).</param>
/// <param name="DamagedObjects">Objects whose content did not match their name; all removed.</param>
/// <param name="BrokenLayers">Records that were unreadable, referred to a missing or damaged object, or did not regenerate their diff_id.</param>
public sealed record VerifyReport(int LayersChecked, int ObjectsChecked, IReadOnlyList<string> DamagedObjects, IReadOnlyList<BrokenLayer> BrokenLayers)
{
    /// <summary>Whether nothing was found wrong.</summary>
    public bool Clean => DamagedObjects.Count == 0 && BrokenLayers.Count == 0;
}
