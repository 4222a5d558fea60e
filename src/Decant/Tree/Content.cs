using Microsoft.Win32.SafeHandles;

namespace Decant.Tree;

/// <summary>A handle to one regular file's content, held by whichever store the writer provides.</summary>
public abstract class ContentRef
{
    /// <summary>Creates a handle for content of <paramref name="size"/> bytes; stores derive from this class to say where the bytes are.</summary>
    protected ContentRef(long size)
    {
        Size = size;
    }

    /// <summary>The content's length in bytes.</summary>
    public long Size { get; }
}

/// <summary>
/// Where file contents go while layers are read. Each writer provides one: the directory writer
/// writes files inside the target, at their entries' paths where it can, and moves the rest into
/// place at commit; the tar writer spools
/// them to one sparse file; the ext4 writer writes them straight into the image's data blocks.
/// Layers are read concurrently, so implementations are thread-safe.
/// </summary>
public interface IContentStore
{
    /// <summary>Copies exactly <paramref name="size"/> bytes of <paramref name="data"/> into the store.</summary>
    ValueTask<ContentRef> WriteAsync(Stream data, long size, CancellationToken cancellationToken);

    /// <summary>Says that nothing in the final tree uses this content any more, so its space can be reused.</summary>
    ValueTask ReleaseAsync(ContentRef content, CancellationToken cancellationToken);
}

/// <summary>
/// Content whose source knows where its holes are (a sparse tar entry): a store skips a hole at
/// O(1) cost, leaving it unwritten, instead of reading its zeros.
/// </summary>
internal interface IHoleSkippingStream
{
    /// <summary>Skips the hole at the current position, in whole multiples of <paramref name="alignment"/> bytes; returns the bytes skipped (0 when there is none).</summary>
    long SkipHole(int alignment);
}

/// <summary>
/// A content store whose placement depends on arrival order (ext4: the blocks a file gets depend on
/// everything stored before it) that can take a later layer's contents early and hold them aside
/// until that layer's turn. Layers can then be decoded in parallel while the output stays the same
/// bytes as when they are read one at a time.
/// </summary>
internal interface IDeferringContentStore
{
    /// <summary>
    /// A store for one layer read ahead of its turn: what is written to it is held aside until its
    /// turn, which comes when <paramref name="turn"/> completes. The first write after that places what
    /// is held, and it and every later write go straight to this store: the same contents in the
    /// same order, so the same bytes, with only the part read ahead written twice.
    /// </summary>
    IDeferredContents Defer(Task turn);
}

/// <summary>One layer's contents held aside (spooled next to the output) until its turn to be placed. Written by one reader at a time.</summary>
internal interface IDeferredContents : IContentStore, IDisposable
{
    /// <summary>Places every content held into the main store, in the order written, exactly as if it were written there now; releases made meanwhile follow. Nothing is left to do when the layer's turn came while it was read (its first write after that placed what was held).</summary>
    ValueTask PlaceAsync(CancellationToken cancellationToken);
}

/// <summary>What placing a file's content into a store from another file did.</summary>
/// <param name="Content">The store's handle to the placed content.</param>
/// <param name="Reflinked">Whether the store shares the source's blocks (a reflink) instead of holding a copy.</param>
internal readonly record struct PlacedContent(ContentRef Content, bool Reflinked);

/// <summary>
/// The owner, mode and times of the regular file a content is stored for, as its layer entry gives
/// them (an entry without xattrs), known when the content is stored, and the entry's name. A store
/// may give its copy of the content these at once (the directory writer's file, which it writes at
/// the entry's path where it can, so commit leaves it there); the writer still checks them against
/// the merged tree's inode and path.
/// </summary>
/// <param name="Mode">The permission bits (with setuid, setgid and sticky).</param>
/// <param name="Uid">The owner's user id.</param>
/// <param name="Gid">The owner's group id.</param>
/// <param name="ModificationTime">The modification time.</param>
/// <param name="AccessTime">The access time (the modification time when the entry gives none).</param>
/// <param name="EntryName">The entry's name as its layer's tar gives it: the file's path in the merged tree unless the layer rules put it elsewhere (a symlink on the way, a later layer).</param>
internal sealed record FileMetadataHint(uint Mode, long Uid, long Gid, Model.Timestamp ModificationTime, Model.Timestamp AccessTime, string? EntryName = null)
{
    /// <summary>Whether <paramref name="inode"/> has exactly this metadata and no xattrs: nothing is left to apply to a file given it.</summary>
    public bool Covers(Inode inode) =>
        inode.Xattrs.Count == 0 && (inode.Mode & 0xFFF) == Mode && inode.Uid == Uid && inode.Gid == Gid
        && inode.ModificationTime == ModificationTime && inode.AccessTime == AccessTime;
}

/// <summary>A content store that can give a stored content its file's metadata as it writes it (<see cref="FileMetadataHint"/>).</summary>
internal interface IHintedContentStore
{
    /// <summary>Writes a content as <see cref="IContentStore.WriteAsync"/> does, and gives it <paramref name="hint"/>'s metadata.</summary>
    ValueTask<ContentRef> WriteAsync(Stream data, long size, FileMetadataHint hint, CancellationToken cancellationToken);
}

/// <summary>
/// A content store that takes content from a file by handle (a cache object), so it can reflink it
/// or copy it in the kernel instead of reading it through a stream.
/// </summary>
internal interface IFileContentStore
{
    /// <summary>Places the first <paramref name="size"/> bytes of <paramref name="source"/> (which stays the caller's) into the store; a store that takes hints gives the content <paramref name="hint"/>'s metadata.</summary>
    ValueTask<PlacedContent> PlaceAsync(SafeFileHandle source, long size, FileMetadataHint? hint, CancellationToken cancellationToken);
}

/// <summary>Placing content from files into any store.</summary>
internal static class ContentPlacement
{
    /// <summary>
    /// Places the first <paramref name="size"/> bytes of <paramref name="source"/> into
    /// <paramref name="store"/>: by the store's own means where it has them, else through a stream
    /// over the file (its holes skipped, not read).
    /// </summary>
    public static async ValueTask<PlacedContent> PlaceAsync(this IContentStore store, SafeFileHandle source, long size, FileMetadataHint? hint, CancellationToken cancellationToken)
    {
        if (store is IFileContentStore direct)
        {
            return await direct.PlaceAsync(source, size, hint, cancellationToken).ConfigureAwait(false);
        }
        await using var content = new FileContentStream(source, size);
        return new PlacedContent(await store.WriteAsync(content, size, hint, cancellationToken).ConfigureAwait(false), Reflinked: false);
    }

    /// <summary>Writes a content into <paramref name="store"/>, giving it <paramref name="hint"/>'s metadata where the store takes hints.</summary>
    public static ValueTask<ContentRef> WriteAsync(this IContentStore store, Stream data, long size, FileMetadataHint? hint, CancellationToken cancellationToken) =>
        hint is not null && store is IHintedContentStore hinted
            ? hinted.WriteAsync(data, size, hint, cancellationToken)
            : store.WriteAsync(data, size, cancellationToken);
}
