using System.Security.Cryptography;
using Decant.Interop;
using Decant.Model;

namespace Decant.Cache;

/// <summary>
/// Looks after a <see cref="LayerCache"/>: lists it, measures it, prunes it to a size or an age,
/// sweeps what nothing refers to, and verifies it. Safe to run while other processes export through
/// the cache: a record is removed only under its layer's exclusive lock taken without waiting (so a
/// layer in use is kept), and objects are swept only under <c>gc.lock</c> held exclusively (so an
/// object that a conversion in progress has written is kept). Listing and measuring take no lock;
/// their numbers are a snapshot.
/// </summary>
internal sealed class CacheMaintenance
{
    /// <summary>
    /// The size the cache is pruned to after an export when the user sets none: 20 GiB of records
    /// and the objects they refer to.
    /// </summary>
    public const long DefaultMaxBytes = 20L << 30;

    private readonly LayerCache _cache;

    /// <summary>Maintenance of <paramref name="cache"/>.</summary>
    public CacheMaintenance(LayerCache cache)
    {
        ArgumentNullException.ThrowIfNull(cache);
        _cache = cache;
    }

    /// <summary>A record found by a scan, with the distinct objects it refers to (null when it is unreadable).</summary>
    private sealed record Record(string DiffId, long Bytes, DateTimeOffset LastUsed, IReadOnlyDictionary<string, long>? References);

    /// <summary>The layers and images in the cache, most recently used first.</summary>
    public async Task<CacheListing> ListAsync(CancellationToken cancellationToken)
    {
        var records = await ScanRecordsAsync(cancellationToken).ConfigureAwait(false);
        var objects = ScanObjects();
        var images = (await _cache.ReadImagesAsync(cancellationToken).ConfigureAwait(false)).Select(stored => stored.Image).OfType<ImageUse>().ToList();
        var byDiffId = records.ToDictionary(record => record.DiffId);

        var layers = records.Select(record =>
        {
            var references = record.References ?? new Dictionary<string, long>();
            bool complete = record.References is not null && references.All(reference => objects.TryGetValue(reference.Key, out var size) && size.Apparent == reference.Value);
            var users = images.Where(image => image.Layers.Contains(record.DiffId)).Select(image => image.Reference).Distinct().Order(StringComparer.Ordinal).ToList();
            return new CachedLayer(record.DiffId, record.Bytes, references.Count, AllocatedOf(references.Keys, objects), complete, record.LastUsed, users);
        });
        var listed = images.Select(image =>
        {
            var cached = image.Layers.Distinct().Select(diffId => byDiffId.GetValueOrDefault(diffId)).OfType<Record>().ToList();
            var shared = cached.SelectMany(record => record.References?.Keys ?? []).Distinct();
            return new CachedImage(image, cached.Count, cached.Sum(record => record.Bytes) + AllocatedOf(shared, objects));
        });
        return new CacheListing(
            [.. layers.OrderByDescending(layer => layer.LastUsed).ThenBy(layer => layer.DiffId, StringComparer.Ordinal)],
            [.. listed.OrderByDescending(image => image.Image.LastUsed).ThenBy(image => image.Image.ManifestDigest, StringComparer.Ordinal)]);
    }

    /// <summary>The cache's disk usage, and how much gc would reclaim.</summary>
    public async Task<CacheUsage> DiskUsageAsync(CancellationToken cancellationToken)
    {
        var records = await ScanRecordsAsync(cancellationToken).ConfigureAwait(false);
        var objects = ScanObjects();
        var referenced = ReferencedBy(records);
        var unreferenced = objects.Where(entry => !referenced.Contains(entry.Key)).ToList();
        var images = (await _cache.ReadImagesAsync(cancellationToken).ConfigureAwait(false)).Select(stored => Measure(stored.Path)).ToList();
        var temporary = _cache.Objects.EnumerateTemporaryFiles().Select(Measure).ToList();
        return new CacheUsage(
            records.Count, records.Sum(record => record.Bytes),
            objects.Count, objects.Values.Sum(size => size.Allocated), objects.Values.Sum(size => size.Apparent),
            images.Count, images.Sum(size => size.Allocated),
            unreferenced.Count, unreferenced.Sum(entry => entry.Value.Allocated),
            temporary.Count, temporary.Sum(size => size.Allocated));
    }

    /// <summary>
    /// Removes layer records, least recently used first, until the records and the objects they
    /// still refer to (and the image records) fit in <paramref name="maxBytes"/>, and every record
    /// unused for longer than <paramref name="olderThan"/>; neither bound given, no record is removed.
    /// A record whose lock someone holds (an export using it, a conversion) is kept. Then sweeps
    /// (<see cref="GcAsync"/>); with <paramref name="nonBlocking"/>, as after an export, the object
    /// sweep is skipped rather than waited for when a conversion is running.
    /// </summary>
    public async Task<PruneReport> PruneAsync(long? maxBytes, TimeSpan? olderThan, bool nonBlocking, CancellationToken cancellationToken)
    {
        var records = await ScanRecordsAsync(cancellationToken).ConfigureAwait(false);
        var objects = ScanObjects();
        var users = new Dictionary<string, int>();
        foreach (string digest in records.SelectMany(record => record.References?.Keys ?? []))
        {
            users[digest] = users.GetValueOrDefault(digest) + 1;
        }
        var images = (await _cache.ReadImagesAsync(cancellationToken).ConfigureAwait(false)).Select(stored => Measure(stored.Path).Allocated);
        long size = records.Sum(record => record.Bytes) + AllocatedOf(users.Keys, objects) + images.Sum();
        var cutoff = olderThan is { } age ? DateTimeOffset.UtcNow - age : DateTimeOffset.MinValue;
        List<string> removed = [], inUse = [];
        long freed = 0;
        foreach (var record in records.OrderBy(record => record.LastUsed).ThenBy(record => record.DiffId, StringComparer.Ordinal))
        {
            cancellationToken.ThrowIfCancellationRequested();
            bool tooBig = maxBytes is { } max && size > max;
            if (record.LastUsed >= cutoff && !tooBig)
            {
                continue;
            }
            if (!_cache.TryRemoveLayer(record.DiffId))
            {
                inUse.Add(record.DiffId);
                continue;
            }
            removed.Add(record.DiffId);
            freed += record.Bytes;
            size -= record.Bytes;
            foreach (string digest in record.References?.Keys ?? [])
            {
                if (--users[digest] == 0)
                {
                    size -= AllocatedOf([digest], objects);
                }
            }
        }
        var sweep = await GcAsync(nonBlocking, cancellationToken).ConfigureAwait(false);
        return new PruneReport(removed, inUse, freed, sweep, size);
    }

    /// <summary>
    /// Sweeps: removes the objects no record refers to (under <c>gc.lock</c> held exclusively: waiting
    /// for running conversions, or with <paramref name="nonBlocking"/> skipping this step when there
    /// are any), the temporary files of dead processes, the lock files of layers without a record that
    /// no one holds, and the image records none of whose layers is kept any more.
    /// </summary>
    public async Task<SweepReport> GcAsync(bool nonBlocking, CancellationToken cancellationToken)
    {
        int objectsRemoved = 0;
        long freed = 0;
        bool swept;
        using (var sweeping = nonBlocking ? _cache.TryLockSweep() : await _cache.LockSweepAsync(cancellationToken).ConfigureAwait(false))
        {
            swept = sweeping is not null;
            if (swept)
            {
                // Read under the lock: every conversion that wrote objects has published its record by now.
                var referenced = ReferencedBy(await ScanRecordsAsync(cancellationToken).ConfigureAwait(false));
                foreach (var (digest, size) in ScanObjects().Where(entry => !referenced.Contains(entry.Key)))
                {
                    if (ObjectStore.TryDelete(_cache.Objects.PathOf(digest)))
                    {
                        objectsRemoved++;
                        freed += size.Allocated;
                    }
                }
            }
        }
        int leftovers = _cache.Objects.RemoveLeftovers();
        int locks = _cache.RemoveUnusedLockFiles();
        int images = 0;
        foreach (var stored in await _cache.ReadImagesAsync(cancellationToken).ConfigureAwait(false))
        {
            if ((stored.Image is null || !stored.Image.Layers.Any(diffId => IsDiffId(diffId) && File.Exists(_cache.RecordPath(diffId)))) && ObjectStore.TryDelete(stored.Path))
            {
                images++;
            }
        }
        return new SweepReport(swept, objectsRemoved, freed, leftovers, locks, images);
    }

    /// <summary>
    /// Checks everything: hashes every object once (fs-verity) against its name, removing the damaged
    /// ones; then regenerates every record's tar into SHA-256 and compares it to the diff_id, removing
    /// the records that are unreadable, refer to a damaged or missing object, or do not match (unless
    /// their lock is held: then they are reported, not removed). Holds <c>gc.lock</c> shared, as a
    /// conversion does, so no sweep removes objects under it (a concurrent prune's records may still
    /// vanish: a record gone is skipped).
    /// </summary>
    public async Task<VerifyReport> VerifyAsync(CancellationToken cancellationToken)
    {
        using var noSweep = await _cache.HoldForConversionAsync(cancellationToken).ConfigureAwait(false);
        var damaged = new HashSet<string>(StringComparer.Ordinal);
        int objectsChecked = 0;
        foreach (string digest in _cache.Objects.EnumerateObjects().ToList())
        {
            string path = _cache.Objects.PathOf(digest);
            string actual;
            try
            {
                actual = await FsVerityDigest.OfFileAsync(path, cancellationToken).ConfigureAwait(false);
            }
            catch (FileNotFoundException)
            {
                continue;
            }
            objectsChecked++;
            if (actual != digest)
            {
                damaged.Add(digest);
                ObjectStore.TryDelete(path);
            }
        }
        var broken = new List<BrokenLayer>();
        int layersChecked = 0;
        foreach (string diffId in _cache.EnumerateLayers().ToList())
        {
            var (present, problem) = await CheckRecordAsync(diffId, damaged, cancellationToken).ConfigureAwait(false);
            layersChecked += present ? 1 : 0;
            if (problem is not null)
            {
                broken.Add(new BrokenLayer(diffId, problem, _cache.TryRemoveLayer(diffId)));
            }
        }
        return new VerifyReport(layersChecked, objectsChecked, [.. damaged.Order(StringComparer.Ordinal)], broken);
    }

    /// <summary>Whether the record of <paramref name="diffId"/> is (still) there, and what is wrong with it (null: nothing).</summary>
    private async Task<(bool Present, string? Problem)> CheckRecordAsync(string diffId, HashSet<string> damaged, CancellationToken cancellationToken)
    {
        try
        {
            await using var record = OpenRecord(diffId);
            var references = await SplitStream.ReadReferencesAsync(record, cancellationToken).ConfigureAwait(false);
            if (references.FirstOrDefault(reference => damaged.Contains(reference.Digest)) is { Digest: not null } bad)
            {
                return (true, $"its object {bad.Digest} was damaged");
            }
            record.Position = 0;
            using var sha256 = SHA256.Create();
            await using (var sink = new CryptoStream(Stream.Null, sha256, CryptoStreamMode.Write))
            {
                await SplitStream.RegenerateAsync(record, _cache.Objects, sink, cancellationToken).ConfigureAwait(false);
            }
            string actual = "sha256:" + Convert.ToHexStringLower(sha256.Hash!);
            return (true, actual == diffId ? null : $"it regenerates a tar whose digest is {actual}");
        }
        catch (FileNotFoundException)
        {
            return (false, null);
        }
        catch (Exception error) when (IsDamage(error))
        {
            return (true, error.Message);
        }
    }

    /// <summary>Every record, with its size, last use and distinct references; records removed while scanning are left out.</summary>
    private async Task<List<Record>> ScanRecordsAsync(CancellationToken cancellationToken)
    {
        var records = new List<Record>();
        foreach (string diffId in _cache.EnumerateLayers())
        {
            try
            {
                await using var record = OpenRecord(diffId);
                var status = Posix.Stat(record.SafeFileHandle, _cache.RecordPath(diffId));
                Dictionary<string, long>? references = null;
                try
                {
                    references = [];
                    foreach (var reference in await SplitStream.ReadReferencesAsync(record, cancellationToken).ConfigureAwait(false))
                    {
                        references[reference.Digest] = reference.Size;
                    }
                }
                catch (Exception error) when (IsDamage(error))
                {
                    references = null;
                }
                var modified = DateTimeOffset.FromUnixTimeSeconds(status.ModificationTime.Seconds).AddTicks(status.ModificationTime.Nanoseconds / 100);
                records.Add(new Record(diffId, AllocatedBytes(status), modified, references));
            }
            catch (FileNotFoundException)
            {
                // removed meanwhile
            }
        }
        return records;
    }

    /// <summary>Every object's size and disk space.</summary>
    private Dictionary<string, (long Apparent, long Allocated)> ScanObjects()
    {
        var objects = new Dictionary<string, (long, long)>(StringComparer.Ordinal);
        foreach (string digest in _cache.Objects.EnumerateObjects())
        {
            if (TryMeasure(_cache.Objects.PathOf(digest)) is { } size)
            {
                objects[digest] = size;
            }
        }
        return objects;
    }

    private FileStream OpenRecord(string diffId) =>
        new(_cache.RecordPath(diffId), new FileStreamOptions { Mode = FileMode.Open, Access = FileAccess.Read, Options = FileOptions.Asynchronous });

    private static HashSet<string> ReferencedBy(IEnumerable<Record> records) =>
        records.SelectMany(record => record.References?.Keys ?? []).ToHashSet(StringComparer.Ordinal);

    private static long AllocatedOf(IEnumerable<string> digests, Dictionary<string, (long Apparent, long Allocated)> objects) =>
        digests.Sum(digest => objects.TryGetValue(digest, out var size) ? size.Allocated : 0);

    private static (long Apparent, long Allocated) Measure(string path) => TryMeasure(path) ?? (0, 0);

    /// <summary>A file's size and disk space (st_blocks × 512); null when it is gone.</summary>
    private static unsafe (long Apparent, long Allocated)? TryMeasure(string path)
    {
        LibC.Statx status;
        return LibC.StatxAt(SafeFdHandle.CurrentDirectory, path, LibC.AT_SYMLINK_NOFOLLOW, LibC.STATX_BASIC_STATS, &status) == 0
            ? ((long)status.Size, AllocatedBytes(status))
            : null;
    }

    private static long AllocatedBytes(LibC.Statx status) => (long)status.Blocks * 512;

    /// <summary>Whether <paramref name="error"/> says a record is damaged (rather than that something else failed).</summary>
    private static bool IsDamage(Exception error) =>
        error is DecantException { Kind: DecantErrorKind.IOError } or ZstdSharp.ZstdException or InvalidDataException or EndOfStreamException;

    private static bool IsDiffId(string diffId) => Digest.TryParse(diffId, out var parsed) && parsed.Algorithm == "sha256";
}
