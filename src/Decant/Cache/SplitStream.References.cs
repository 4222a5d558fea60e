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
        byte[] magic = new byte[Magic.Length];
        if (await splitStream.ReadAtLeastAsync(magic, magic.Length, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false) != magic.Length || !magic.AsSpan().SequenceEqual(Magic))
        {
            throw Damaged("it does not start with the split stream magic");
        }
        await using var chunks = new ZstdSharp.DecompressionStream(splitStream, leaveOpen: true);
        byte[] buffer = ArrayPool<byte>.Shared.Rent(CopyChunk);
        var references = new List<ObjectReference>();
        try
        {
            while (true)
            {
                int tag = await chunks.ReadAsync(buffer.AsMemory(0, 1), cancellationToken).ConfigureAwait(false) == 1 ? buffer[0] : -1;
                switch (tag)
                {
                    case EndTag:
                        return references;
                    case InlineTag:
                        for (long left = await ReadInt64Async(chunks, buffer, cancellationToken).ConfigureAwait(false); left > 0;)
                        {
                            int read = await chunks.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, left)), cancellationToken).ConfigureAwait(false);
                            left -= read > 0 ? read : throw Damaged("it ends inside inline bytes");
                        }
                        break;
                    case ObjectTag or SparseObjectTag:
                        long size = await ReadInt64Async(chunks, buffer, cancellationToken).ConfigureAwait(false);
                        await chunks.ReadExactlyAsync(buffer.AsMemory(0, 32), cancellationToken).ConfigureAwait(false);
                        references.Add(new ObjectReference("sha256:" + Convert.ToHexStringLower(buffer.AsSpan(0, 32)), size));
                        if (tag == SparseObjectTag)
                        {
                            await ReadRangesAsync(chunks, buffer, size, cancellationToken).ConfigureAwait(false);
                        }
                        break;
                    default:
                        throw Damaged(tag < 0 ? "it ends without its end marker" : $"it holds an unknown chunk type {tag}");
                }
            }
        }
        catch (EndOfStreamException)
        {
            throw Damaged("it ends inside a chunk");
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
