using Decant.Tree;

namespace Decant.Cache;

/// <summary>A content store whose contents are cache objects (<see cref="ObjectStore"/>), named by their fs-verity digest.</summary>
internal sealed class ObjectContentStore(ObjectStore objects) : IContentStore
{
    /// <summary>How many contents were new to the store, and how many it held already.</summary>
    public (long Added, long AlreadyPresent) Counts => (Volatile.Read(ref _added), Volatile.Read(ref _present));

    private long _added;
    private long _present;

    /// <inheritdoc/>
    public async ValueTask<ContentRef> WriteAsync(Stream data, long size, CancellationToken cancellationToken)
    {
        var added = await objects.AddAsync(data, size, cancellationToken).ConfigureAwait(false);
        Interlocked.Increment(ref added.AlreadyPresent ? ref _present : ref _added);
        return new ObjectContent(added.Digest, size);
    }

    /// <summary>Objects outlive any one tree: releasing content keeps the object.</summary>
    public ValueTask ReleaseAsync(ContentRef content, CancellationToken cancellationToken) => ValueTask.CompletedTask;

    private sealed class ObjectContent(string digest, long size) : ContentRef(size), IObjectContent
    {
        public string ObjectDigest { get; } = digest;
    }
}
