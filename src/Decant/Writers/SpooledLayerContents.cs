using Decant.Model;
using Decant.Tree;
using Microsoft.Win32.SafeHandles;

namespace Decant.Writers;

/// <summary>
/// A content store that can hand out a content before its bytes arrive and take them later: what
/// <see cref="FillAsync"/> writes lands exactly where <see cref="IContentStore.WriteAsync"/> would have
/// put it at that moment, so filling in order gives the same output as writing in order.
/// </summary>
internal interface IReservingContentStore : IContentStore
{
    /// <summary>A content of <paramref name="size"/> bytes whose bytes are not in the store yet.</summary>
    ContentRef Reserve(long size);

    /// <summary>Writes the bytes of a reserved content, as <see cref="IContentStore.WriteAsync"/> writes a new one.</summary>
    ValueTask FillAsync(ContentRef content, Stream data, CancellationToken cancellationToken);
}

/// <summary>
/// One layer's contents, read ahead of its turn, for a store whose placement depends on arrival
/// order (EROFS): each content is reserved in the store at once and its bytes go to a spool file
/// beside the output (deleted when closed; all-zero blocks left as holes). In the layer's turn
/// (<see cref="DeferredLayerContents.PlaceAsync"/>) each is filled from the spool in the order written, through the store's
/// own path, and the releases made meanwhile follow: the output is the bytes it would be had the
/// layer been read in its turn.
/// </summary>
internal sealed class SpooledLayerContents : DeferredLayerContents
{
    private const int BlockSize = 4096;

    private readonly IReservingContentStore _store;
    private readonly SafeFileHandle _spool;
    private readonly List<(ContentRef Content, long Offset)> _spooled = [];
    private long _end;

    public SpooledLayerContents(IReservingContentStore store, string directory)
        : base(store)
    {
        _store = store;
        _spool = CreateSpool(directory);
    }

    /// <inheritdoc/>
    public override async ValueTask<ContentRef> WriteAsync(Stream data, long size, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentOutOfRangeException.ThrowIfNegative(size);
        EnsureNotPlaced();
        // Each content starts on a block boundary, so its zero blocks are whole holes of the spool.
        long offset = _end;
        _end += (size + BlockSize - 1) / BlockSize * BlockSize;
        await ContentCopy.CopyAsync(data, size, new SpoolSink(_spool, offset), cancellationToken).ConfigureAwait(false);
        var content = _store.Reserve(size);
        _spooled.Add((content, offset));
        return content;
    }

    /// <inheritdoc/>
    protected override async ValueTask PlaceContentsAsync(CancellationToken cancellationToken)
    {
        // Contents that end in zeros left the spool shorter than they are: its holes read as zeros.
        RandomAccess.SetLength(_spool, _end);
        foreach (var (content, offset) in _spooled)
        {
            await using var data = new FileContentStream(_spool, content.Size, offset);
            await _store.FillAsync(content, data, cancellationToken).ConfigureAwait(false);
        }
        _spooled.Clear();
    }

    /// <inheritdoc/>
    public override void Dispose() => _spool.Dispose();

    /// <summary>The spool at a content's offset: all-zero blocks and holes are not written.</summary>
    private readonly struct SpoolSink(SafeFileHandle spool, long start) : IContentSink
    {
        public static int HoleAlignment => BlockSize;

        public static int ZeroBlockSize => BlockSize;

        public static bool ReadsWholeChunks => true;

        public ValueTask WriteAsync(byte[] buffer, int offset, int length, long position, CancellationToken cancellationToken) =>
            RandomAccess.WriteAsync(spool, buffer.AsMemory(offset, length), start + position, cancellationToken);
    }
}
