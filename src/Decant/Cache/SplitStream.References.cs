using System.Buffers;

namespace Decant.Cache;

internal static partial class SplitStream
{
    /// <summary>A record's reference to a content object.</summary>
    /// <param name="Digest">The object's fs-verity digest (<c>sha256:HEX</c>).</param>
    /// <param name="Size">The object's size, as the record expects it.</param>
    public readonly record struct ObjectReference(string Digest, long Size);

    /// <summary>
    /// The objects a split stream refers to, in order (an object referred to twice is listed twice),
    /// read from the record alone: no object is opened, so it works on a record whose objects are gone.
    /// </summary>
    /// <exception cref="Model.DecantException">The file is not a complete split stream (<see cref="Model.DecantErrorKind.IOError"/>).</exception>
    public static async Task<IReadOnlyList<ObjectReference>> ReadReferencesAsync(Stream splitStream, CancellationToken cancellationToken)
    {
        await using var chunks = await Reader.OpenAsync(splitStream, cancellationToken).ConfigureAwait(false);
        byte[] buffer = ArrayPool<byte>.Shared.Rent(CopyChunk);
        var references = new List<ObjectReference>();
        try
        {
            while (await chunks.NextAsync(cancellationToken).ConfigureAwait(false) is { Kind: not ChunkKind.End } chunk)
            {
                if (chunk.Kind == ChunkKind.Object)
                {
                    references.Add(new ObjectReference(chunk.Digest!, chunk.ObjectSize));
                    continue;
                }
                for (long left = chunk.Length; left > 0;)
                {
                    left -= await chunks.ReadInlineAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, left)), cancellationToken).ConfigureAwait(false);
                }
            }
            return references;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
