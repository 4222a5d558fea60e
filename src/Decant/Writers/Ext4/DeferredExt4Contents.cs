using Decant.Model;
using Decant.Tree;
using Microsoft.Win32.SafeHandles;

namespace Decant.Writers.Ext4;

/// <summary>
/// One layer's contents, read ahead of its turn, spooled into a file of their own beside the image
/// (deleted when closed) through an <see cref="Ext4ContentStore"/> of its own, so zero blocks and
/// holes are found exactly as in the image. In the layer's turn they move into the image in the order
/// written (<see cref="Ext4ContentStore.PlaceSpooledAsync"/>): blocks are cloned where the filesystem
/// can, else copied in the kernel, in long runs.
/// </summary>
internal sealed class DeferredExt4Contents : DeferredLayerContents
{
    private readonly Ext4ContentStore _image;
    private readonly SafeFileHandle _spool;
    private readonly Ext4ContentStore _spooled;

    public DeferredExt4Contents(Ext4ContentStore image, string directory)
        : base(image)
    {
        _image = image;
        _spool = CreateSpool(directory);
        // The spool's blocks start at 0 and skip no zones: no filesystem is laid out in it.
        _spooled = new Ext4ContentStore(_spool, new BlockAllocator(new GroupLayout(maxGroups: 0)), spoolDirectory: null);
    }

    /// <inheritdoc/>
    public override ValueTask<ContentRef> WriteAsync(Stream data, long size, CancellationToken cancellationToken)
    {
        EnsureNotPlaced();
        return _spooled.WriteAsync(data, size, cancellationToken);
    }

    /// <inheritdoc/>
    protected override ValueTask PlaceContentsAsync(CancellationToken cancellationToken) =>
        _image.PlaceSpooledAsync(_spool, _spooled.TakeWritten(), cancellationToken);

    /// <inheritdoc/>
    public override void Dispose() => _spool.Dispose();
}
