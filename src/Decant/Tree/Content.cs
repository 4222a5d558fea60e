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
/// stages files inside the target and renames them into place at commit; the tar writer spools
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

/// <summary>Content held as an object of the layer cache, which is named by its fs-verity digest.</summary>
internal interface IObjectContent
{
    /// <summary>The object's digest (<c>sha256:HEX</c>).</summary>
    string ObjectDigest { get; }
}
