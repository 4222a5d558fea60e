using Decant.Model;
using Decant.Tree;
using Microsoft.Win32.SafeHandles;

namespace Decant.Writers;

/// <summary>
/// What every writer's spool for a layer read ahead of its turn does alike: contents are written
/// until the layer's turn, then placed once (<see cref="PlaceContentsAsync"/>); a content released
/// meanwhile is released in the main store only after the layer's contents are placed, as it would
/// have been had the layer been read in its turn, so the output is the same bytes.
/// </summary>
internal abstract class DeferredLayerContents(IContentStore main) : IDeferredContents
{
    private readonly List<ContentRef> _released = [];

    /// <summary>Whether the layer's contents are placed in the main store.</summary>
    protected bool Placed { get; private set; }

    /// <inheritdoc/>
    public abstract ValueTask<ContentRef> WriteAsync(Stream data, long size, CancellationToken cancellationToken);

    /// <summary>Moves every content written into the main store, in the order written.</summary>
    protected abstract ValueTask PlaceContentsAsync(CancellationToken cancellationToken);

    /// <summary>Fails once the layer's contents are placed: nothing more may be written to its spool.</summary>
    protected void EnsureNotPlaced()
    {
        if (Placed)
        {
            throw new InvalidOperationException("the layer's contents were placed already");
        }
    }

    /// <inheritdoc/>
    public ValueTask ReleaseAsync(ContentRef content, CancellationToken cancellationToken)
    {
        if (Placed)
        {
            return main.ReleaseAsync(content, cancellationToken);
        }
        _released.Add(content);
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc/>
    public async ValueTask PlaceAsync(CancellationToken cancellationToken)
    {
        if (Placed)
        {
            throw new InvalidOperationException("a layer's contents are placed once");
        }
        Placed = true;
        await PlaceContentsAsync(cancellationToken).ConfigureAwait(false);
        foreach (var content in _released)
        {
            await main.ReleaseAsync(content, cancellationToken).ConfigureAwait(false);
        }
        _released.Clear();
    }

    /// <summary>A new spool file in <paramref name="directory"/>, deleted when closed.</summary>
    protected static SafeFileHandle CreateSpool(string directory)
    {
        string path = Path.Combine(directory, $".decant-spool-{Guid.NewGuid():N}");
        try
        {
            return File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, FileOptions.DeleteOnClose | FileOptions.Asynchronous);
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            throw new DecantException(DecantErrorKind.OutputError, $"cannot create a spool for a layer read ahead in {directory}: {error.Message}", error);
        }
    }

    /// <summary>Closes (so deletes) the spool.</summary>
    public abstract void Dispose();
}
