using Decant.Model;
using Decant.Tree;
using Microsoft.Win32.SafeHandles;

namespace Decant.Writers;

/// <summary>An image writer's content store that can write a layer read ahead of its turn into a spool file, and move it into the image in its turn.</summary>
internal interface ISpoolingContentStore<TStore> : IContentStore
    where TStore : ISpoolingContentStore<TStore>
{
    /// <summary>A store of the same kind writing into <paramref name="spool"/> (its blocks from the start, laid out as in no filesystem).</summary>
    TStore SpoolStore(SafeFileHandle spool);

    /// <summary>
    /// Moves everything <paramref name="spoolStore"/> (a <see cref="SpoolStore"/> over <paramref name="spool"/>)
    /// wrote into this store, in the order written, allocated as streaming would have allocated it,
    /// so the image is the same bytes.
    /// </summary>
    ValueTask PlaceSpooledAsync(SafeFileHandle spool, TStore spoolStore, CancellationToken cancellationToken);
}

/// <summary>
/// One layer's contents, read ahead of its turn: written by a store of their own kind into a spool
/// file beside the image (deleted when closed), so zero blocks and holes are found exactly as in the
/// image. In the layer's turn they move into the image in the order written
/// (<see cref="ISpoolingContentStore{TStore}.PlaceSpooledAsync"/>): blocks are cloned where the
/// filesystem can, else copied in the kernel, in long runs. A content released meanwhile is released
/// in the image's store only after the layer's contents are placed, as it would have been had the
/// layer been read in its turn, so the image is the same bytes.
/// </summary>
internal sealed class SpooledStoreContents<TStore> : IDeferredContents
    where TStore : ISpoolingContentStore<TStore>
{
    private readonly TStore _image;
    private readonly SafeFileHandle _spool;
    private readonly TStore _spooled;
    private readonly List<ContentRef> _released = [];
    private bool _placed;

    public SpooledStoreContents(TStore image, string directory)
    {
        _image = image;
        _spool = SpoolFile.Create(directory, "spool", "a layer read ahead");
        _spooled = image.SpoolStore(_spool);
    }

    /// <inheritdoc/>
    public ValueTask<ContentRef> WriteAsync(Stream data, long size, CancellationToken cancellationToken)
    {
        if (_placed)
        {
            throw new InvalidOperationException("the layer's contents were placed already");
        }
        return _spooled.WriteAsync(data, size, cancellationToken);
    }

    /// <inheritdoc/>
    public ValueTask ReleaseAsync(ContentRef content, CancellationToken cancellationToken)
    {
        if (_placed)
        {
            return _image.ReleaseAsync(content, cancellationToken);
        }
        _released.Add(content);
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc/>
    public async ValueTask PlaceAsync(CancellationToken cancellationToken)
    {
        if (_placed)
        {
            throw new InvalidOperationException("a layer's contents are placed once");
        }
        _placed = true;
        await _image.PlaceSpooledAsync(_spool, _spooled, cancellationToken).ConfigureAwait(false);
        foreach (var content in _released)
        {
            await _image.ReleaseAsync(content, cancellationToken).ConfigureAwait(false);
        }
        _released.Clear();
    }

    /// <summary>Closes (so deletes) the spool.</summary>
    public void Dispose() => _spool.Dispose();
}
