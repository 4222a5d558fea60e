using Decant.Interop;
using Decant.Model;

namespace Decant.Cache;

/// <summary>
/// Layers converted once and kept, keyed by diff_id: <c>layers/sha256/HEX</c> is the layer's
/// <see cref="SplitStream"/> record, whose file data are objects of the <see cref="ObjectStore"/>
/// beside it. A record appears whole or not at all (written under a private name, fsync'd, renamed,
/// the directory fsync'd); one whose objects are not all present is treated as absent, so a
/// damaged or half-pruned entry is converted again rather than trusted. Converting a layer holds
/// its lock (<c>locks/HEX</c>, <c>flock</c>), so any number of processes share the cache and a layer
/// is never converted twice at once; the kernel drops the lock of a process that dies.
/// </summary>
internal sealed class LayerCache
{
    private static readonly TimeSpan LockPoll = TimeSpan.FromMilliseconds(20);
    private readonly string _layers;
    private readonly string _locks;

    /// <summary>Opens (creating if needed) the cache at <paramref name="root"/>.</summary>
    public LayerCache(string root)
    {
        Root = root;
        Objects = new ObjectStore(root);
        _layers = Path.Combine(root, "layers", "sha256");
        _locks = Path.Combine(root, "locks");
        Directory.CreateDirectory(_layers);
        Directory.CreateDirectory(_locks);
    }

    /// <summary>The cache's directory.</summary>
    public string Root { get; }

    /// <summary>The content objects the records refer to.</summary>
    public ObjectStore Objects { get; }

    /// <summary>Where the record of the layer with <paramref name="diffId"/> is, present or not.</summary>
    public string RecordPath(string diffId) => Path.Combine(_layers, HexOf(diffId));

    /// <summary>
    /// Takes the lock on converting <paramref name="diffId"/>, waiting while another process (or
    /// another export in this one) holds it. Disposing the result releases it.
    /// </summary>
    public async Task<IDisposable> LockAsync(string diffId, CancellationToken cancellationToken)
    {
        string path = Path.Combine(_locks, HexOf(diffId));
        // Opened by open(2) itself: the runtime's own file-sharing emulation also uses flock, on the same descriptor.
        var handle = Posix.OpenAt(SafeFdHandle.CurrentDirectory, path, LibC.O_RDWR | LibC.O_CREAT, 0x1A4, path);
        try
        {
            while (LibC.Flock(handle, LibC.LOCK_EX | LibC.LOCK_NB) != 0)
            {
                int errno = System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
                if (errno != LibC.EWOULDBLOCK && errno != LibC.EINTR)
                {
                    throw Posix.Failure("flock", path, errno);
                }
                await Task.Delay(LockPoll, cancellationToken).ConfigureAwait(false);
            }
            return handle;
        }
        catch
        {
            handle.Dispose();
            throw;
        }
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
        catch (DecantException error) when (error.Kind == DecantErrorKind.IOError)
        {
            return null; // damaged or partly pruned: converted again
        }
    }

    /// <summary>
    /// Publishes the record of <paramref name="diffId"/> that <paramref name="write"/> writes: it
    /// becomes visible only complete and durable. A failure leaves no record and no temporary file.
    /// </summary>
    public async Task PublishAsync(string diffId, Func<Stream, CancellationToken, Task> write, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(write);
        string final = RecordPath(diffId);
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
            Posix.FlushDirectory(_layers);
        }
        catch (IOException error)
        {
            File.Delete(temporary);
            throw new DecantException(DecantErrorKind.IOError, $"cannot keep layer {diffId} in the cache at {Root}: {error.Message}", error);
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }
    }

    private static string HexOf(string diffId) =>
        Digest.TryParse(diffId, out var parsed) && parsed.Algorithm == "sha256" ? parsed.Hex : throw new ArgumentException($"not a sha256 diff_id: \"{diffId}\"", nameof(diffId));
}
