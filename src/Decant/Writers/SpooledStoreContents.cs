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
/// filesystem can, else copied in the kernel, in long runs.
/// </summary>
internal sealed class SpooledStoreContents<TStore> : DeferredLayerContents
    where TStore : ISpoolingContentStore<TStore>
{
    private readonly TStore _image;
    private readonly SafeFileHandle _spool;
    private readonly TStore _spooled;

    public SpooledStoreContents(TStore image, string directory)
        : base(image)
    {
        _image = image;
        _spool = CreateSpool(directory);
        _spooled = image.SpoolStore(_spool);
    }

    /// <inheritdoc/>
    public override ValueTask<ContentRef> WriteAsync(Stream data, long size, CancellationToken cancellationToken)
    {
        EnsureNotPlaced();
        return _spooled.WriteAsync(data, size, cancellationToken);
    }

    /// <inheritdoc/>
    protected override ValueTask PlaceContentsAsync(CancellationToken cancellationToken) =>
        _image.PlaceSpooledAsync(_spool, _spooled, cancellationToken);

    /// <inheritdoc/>
    public override void Dispose() => _spool.Dispose();
}
