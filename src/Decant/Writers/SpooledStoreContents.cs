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
/// filesystem can, else copied in the kernel, in long runs. When the layer's turn comes while it is
/// still being read, its next write first moves what is spooled in, and from then on its contents
/// go straight into the image: only the part read ahead is written twice. A content released
/// before its contents are placed is released in the image's store after them, as it would have
/// been had the layer been read in its turn (streaming allocates fresh blocks only, so releases
/// never change where a content goes), so the image is the same bytes.
/// </summary>
internal sealed class SpooledStoreContents<TStore> : IDeferredContents
    where TStore : ISpoolingContentStore<TStore>
{
    private readonly TStore _image;
    private readonly Task _turn;
    private readonly SafeFileHandle _spool;
    private readonly TStore _spooled;
    private readonly List<ContentRef> _released = [];
    private bool _placed;

    /// <summary>Contents for <paramref name="image"/>, spooled in <paramref name="directory"/> until <paramref name="turn"/> completes.</summary>
    public SpooledStoreContents(TStore image, Task turn, string directory)
    {
        _image = image;
        _turn = turn;
        _spool = SpoolFile.Create(directory, "spool", "a layer read ahead");
        _spooled = image.SpoolStore(_spool);
    }

    /// <inheritdoc/>
    public async ValueTask<ContentRef> WriteAsync(Stream data, long size, CancellationToken cancellationToken)
    {
        if (!_placed && _turn.IsCompletedSuccessfully)
        {
            await PlaceAsync(cancellationToken).ConfigureAwait(false);
        }
        return _placed
            ? await _image.WriteAsync(data, size, cancellationToken).ConfigureAwait(false)
            : await _spooled.WriteAsync(data, size, cancellationToken).ConfigureAwait(false);
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
            return; // the layer's turn came while it was read: its writes since went straight in
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
