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
internal sealed class DeferredExt4Contents : IDeferredContents
{
    private readonly Ext4ContentStore _image;
    private readonly SafeFileHandle _spool;
    private readonly Ext4ContentStore _spooled;
    private readonly List<ContentRef> _released = [];
    private bool _placed;

    public DeferredExt4Contents(Ext4ContentStore image, string directory)
    {
        _image = image;
        string path = Path.Combine(directory, $".decant-spool-{Guid.NewGuid():N}");
        try
        {
            _spool = File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, FileOptions.DeleteOnClose | FileOptions.Asynchronous);
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            throw new DecantException(DecantErrorKind.OutputError, $"cannot create a spool for a layer read ahead in {directory}: {error.Message}", error);
        }
        // The spool's blocks start at 0 and skip no zones: no filesystem is laid out in it.
        _spooled = new Ext4ContentStore(_spool, new BlockAllocator(new GroupLayout(maxGroups: 0)), spoolDirectory: null);
    }

    /// <inheritdoc/>
    public ValueTask<ContentRef> WriteAsync(Stream data, long size, CancellationToken cancellationToken) =>
        _placed ? throw new InvalidOperationException("the layer's contents were placed already") : _spooled.WriteAsync(data, size, cancellationToken);

    /// <inheritdoc/>
    public ValueTask ReleaseAsync(ContentRef content, CancellationToken cancellationToken)
    {
        if (_placed)
        {
            return _image.ReleaseAsync(content, cancellationToken);
        }
        // Released in the image once placed, as streaming would have placed it, then released it.
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
        await _image.PlaceSpooledAsync(_spool, _spooled.TakeWritten(), cancellationToken).ConfigureAwait(false);
        foreach (var content in _released)
        {
            await _image.ReleaseAsync(content, cancellationToken).ConfigureAwait(false);
        }
        _released.Clear();
    }

    /// <summary>Closes (so deletes) the spool.</summary>
    public void Dispose() => _spool.Dispose();
}
