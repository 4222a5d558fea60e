using Decant.Interop;
using Decant.Model;

namespace Decant.Cache;

/// <summary>
/// Layers converted once and kept, keyed by diff_id: <c>layers/sha256/HEX</c> is the layer's
/// <see cref="SplitStream"/> record, whose file data are objects of the <see cref="ObjectStore"/>
/// beside it. A record appears whole or not at all (written under a private name, fsync'd, renamed,
/// the directory fsync'd); one whose objects are not all present is treated as absent, so a
/// damaged or half-pruned entry is converted again rather than trusted.
/// <para>
/// Locks (<c>flock</c>, which the kernel drops when a process dies, so any number of processes
/// share the cache): an export using a layer's record holds the layer's lock (<c>locks/HEX</c>)
/// <see cref="LockMode.Shared"/> for the whole export; converting a layer holds it
/// <see cref="LockMode.Exclusive"/>, so users wait for a conversion in progress and a layer is never
/// converted twice at once; prune removes a record only when it can take that lock exclusively at
/// once, so a layer in use is never removed. A conversion also holds the cache-wide <c>gc.lock</c>
/// shared (<see cref="HoldForConversionAsync"/>) until its record is published, since the objects
/// it has written are referenced by no record before then; the object sweep takes it exclusively.
/// Order: a layer's lock first, then <c>gc.lock</c>; maintenance, which takes <c>gc.lock</c> first,
/// takes layer locks only without waiting. An export's steps: <see cref="LockAsync(string, LockMode, CancellationToken)"/>
/// shared, <see cref="FindAsync"/>; when absent, <see cref="LayerLock.ChangeAsync"/> to exclusive and
/// <see cref="FindAsync"/> again (another process may have converted it meanwhile); when still
/// absent, convert inside <see cref="HoldForConversionAsync"/> and <see cref="PublishAsync"/>; then
/// change back to shared (a downgrade lets waiting users in at once) and use the record.
/// </para>
/// <para>
/// Usage: a record's modification time is its layer's last use (<see cref="MarkUsed"/>), and
/// <c>images/sha256/MANIFESTHEX</c> remembers the images exported (<see cref="RecordImageAsync"/>).
/// </para>
/// </summary>
internal sealed class LayerCache
{
    private readonly string _layers;
    private readonly string _locks;
    private readonly string _images;
    private readonly string _sweepLock;

    /// <summary>Opens (creating if needed) the cache at <paramref name="root"/>.</summary>
    public LayerCache(string root)
    {
        Root = root;
        Objects = new ObjectStore(root);
        _layers = Path.Combine(root, "layers", "sha256");
        _locks = Path.Combine(root, "locks");
        _images = Path.Combine(root, "images", "sha256");
        _sweepLock = Path.Combine(root, "gc.lock");
        Directory.CreateDirectory(_layers);
        Directory.CreateDirectory(_locks);
        Directory.CreateDirectory(_images);
    }

    /// <summary>An image record as found on disk.</summary>
    /// <param name="Path">Its file.</param>
    /// <param name="Image">What it says; null when it is unreadable.</param>
    public readonly record struct StoredImage(string Path, ImageUse? Image);

    /// <summary>The cache's directory.</summary>
    public string Root { get; }

    /// <summary>The content objects the records refer to.</summary>
    public ObjectStore Objects { get; }

    /// <summary>Where the record of the layer with <paramref name="diffId"/> is, present or not.</summary>
    public string RecordPath(string diffId) => Path.Combine(_layers, HexOf(diffId));

    /// <summary>The diff_ids of the layers that have a record (complete or not: see <see cref="FindAsync"/>).</summary>
    public IEnumerable<string> EnumerateLayers() => HexNames(_layers).Select(hex => "sha256:" + hex);

    /// <summary>Takes the lock on converting <paramref name="diffId"/> (<see cref="LockMode.Exclusive"/>), waiting while anyone else holds it.</summary>
    public Task<LayerLock> LockAsync(string diffId, CancellationToken cancellationToken) => LockAsync(diffId, LockMode.Exclusive, cancellationToken);

    /// <summary>
    /// Takes the lock of <paramref name="diffId"/> in <paramref name="mode"/>, waiting while another
    /// process (or another export in this one) holds it in a conflicting mode. Disposing the result releases it.
    /// </summary>
    public Task<LayerLock> LockAsync(string diffId, LockMode mode, CancellationToken cancellationToken) =>
        LayerLock.TakeAsync(LockPath(diffId), mode, cancellationToken);

    /// <summary>Takes the lock of <paramref name="diffId"/> in <paramref name="mode"/> if that is possible at once; null when someone holds it in a conflicting mode.</summary>
    public LayerLock? TryLock(string diffId, LockMode mode) => LayerLock.TryTake(LockPath(diffId), mode);

    /// <summary>
    /// Holds <c>gc.lock</c> shared for a conversion, from before its first object is added until its
    /// record is published (dispose then): the object sweep waits meanwhile, so it never removes an
    /// object that only the record being written refers to.
    /// </summary>
    public async Task<IDisposable> HoldForConversionAsync(CancellationToken cancellationToken) =>
        await LayerLock.TakeAsync(_sweepLock, LockMode.Shared, cancellationToken).ConfigureAwait(false);

    /// <summary>Holds <c>gc.lock</c> exclusively, for the object sweep: waits while conversions run.</summary>
    public Task<LayerLock> LockSweepAsync(CancellationToken cancellationToken) => LayerLock.TakeAsync(_sweepLock, LockMode.Exclusive, cancellationToken);

    /// <summary>Holds <c>gc.lock</c> exclusively if no conversion runs; null otherwise.</summary>
    public LayerLock? TryLockSweep() => LayerLock.TryTake(_sweepLock, LockMode.Exclusive);

    /// <summary>
    /// Records that <paramref name="diffId"/> was just used: its record's modification time becomes
    /// now (the record's bytes never change once published, so its mtime is free to mean "last use",
    /// which prune orders by). Nothing happens when the layer has no record.
    /// </summary>
    public void MarkUsed(string diffId)
    {
        try
        {
            File.SetLastWriteTimeUtc(RecordPath(diffId), DateTime.UtcNow);
        }
        catch (FileNotFoundException)
        {
            // pruned meanwhile: nothing to mark
        }
    }

    /// <summary>
    /// Removes the record of <paramref name="diffId"/> and its lock file, if no one holds its lock;
    /// false (and nothing removed) when someone does. The objects stay until the sweep.
    /// </summary>
    public bool TryRemoveLayer(string diffId)
    {
        using var held = TryLock(diffId, LockMode.Exclusive);
        if (held is null)
        {
            return false;
        }
        File.Delete(RecordPath(diffId));
        held.DeleteFile();
        return true;
    }

    /// <summary>Removes the lock files of layers that have no record and that no one holds; returns how many.</summary>
    public int RemoveUnusedLockFiles()
    {
        int removed = 0;
        foreach (string hex in HexNames(_locks).ToList())
        {
            string diffId = "sha256:" + hex;
            using var held = File.Exists(RecordPath(diffId)) ? null : TryLock(diffId, LockMode.Exclusive);
            // Checked again under the lock: a conversion may have published the record before it let go.
            if (held is not null && !File.Exists(RecordPath(diffId)))
            {
                held.DeleteFile();
                removed++;
            }
        }
        return removed;
    }

    /// <summary>The record of <paramref name="diffId"/> when it is complete and every object it names is present at its size; null otherwise.</summary>
    public async Task<string?> FindAsync(string diffId, CancellationToken cancellationToken)
    {
        string path = RecordPath(diffId);
        try
        {
            await using var record = new FileStream(path, new FileStreamOptions { Mode = FileMode.Open, Access = FileAccess.Read, Options = FileOptions.Asynchronous });
            await SplitStream.RegenerateAsync(record, Objects, destination: null, cancellationToken).ConfigureAwait(false);
            return path;
        }
        catch (FileNotFoundException)
        {
            return null;
        }
        catch (Exception error) when (error is DecantException { Kind: DecantErrorKind.IOError } or ZstdSharp.ZstdException)
        {
            return null; // damaged (its compressed bytes too) or partly pruned: converted again
        }
    }

    /// <summary>
    /// Publishes the record of <paramref name="diffId"/> that <paramref name="write"/> writes: it
    /// becomes visible only complete and durable. A failure leaves no record and no temporary file.
    /// </summary>
    public Task PublishAsync(string diffId, Func<Stream, CancellationToken, Task> write, CancellationToken cancellationToken) =>
        PublishFileAsync(RecordPath(diffId), write, $"layer {diffId}", cancellationToken);

    /// <summary>
    /// Remembers that <paramref name="image"/> was exported (replacing what was remembered of the
    /// same manifest), published whole like a record.
    /// </summary>
    public Task RecordImageAsync(ImageUse image, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(image);
        byte[] json = image.ToJson();
        return PublishFileAsync(Path.Combine(_images, HexOf(image.ManifestDigest)), (file, token) => file.WriteAsync(json, token).AsTask(), $"image {image.ManifestDigest}", cancellationToken);
    }

    /// <summary>The image records, in no particular order; an unreadable one comes with a null image.</summary>
    public async Task<IReadOnlyList<StoredImage>> ReadImagesAsync(CancellationToken cancellationToken)
    {
        var images = new List<StoredImage>();
        foreach (string hex in HexNames(_images))
        {
            string path = Path.Combine(_images, hex);
            try
            {
                images.Add(new StoredImage(path, ImageUse.Parse(await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false))));
            }
            catch (FileNotFoundException)
            {
                // removed meanwhile
            }
        }
        return images;
    }

    private string LockPath(string diffId) => Path.Combine(_locks, HexOf(diffId));

    private async Task PublishFileAsync(string final, Func<Stream, CancellationToken, Task> write, string what, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(write);
        string temporary = Objects.NewTemporaryPath();
        try
        {
            await using (var file = new FileStream(temporary, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Options = FileOptions.Asynchronous }))
            {
                await write(file, cancellationToken).ConfigureAwait(false);
                await file.FlushAsync(cancellationToken).ConfigureAwait(false);
                file.Flush(flushToDisk: true);
            }
            File.Move(temporary, final, overwrite: true);
            Posix.FlushDirectory(Path.GetDirectoryName(final)!);
        }
        catch (IOException error)
        {
            File.Delete(temporary);
            throw new DecantException(DecantErrorKind.IOError, $"cannot keep {what} in the cache at {Root}: {error.Message}", error);
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }
    }

    /// <summary>The names in <paramref name="directory"/> that are 64 hex digits (a sha256), as the cache names its files.</summary>
    private static IEnumerable<string> HexNames(string directory) =>
        Directory.EnumerateFiles(directory).Select(Path.GetFileName).OfType<string>().Where(name => name.Length == 64 && ObjectStore.IsLowerHex(name));

    private static string HexOf(string diffId) =>
        Digest.TryParse(diffId, out var parsed) && parsed.Algorithm == "sha256" ? parsed.Hex : throw new ArgumentException($"not a sha256 diff_id: \"{diffId}\"", nameof(diffId));
}
