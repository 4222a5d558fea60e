using System.Buffers;
using Decant.Model;

namespace Decant.Tree;

/// <summary>
/// Where a content store puts the bytes <see cref="ContentCopy.CopyAsync"/> reads. Each store has
/// one, a struct, so the copy is compiled for it and calls it directly; the static members say how
/// the store wants its content cut.
/// </summary>
internal interface IContentSink
{
    /// <summary>A sparse source's holes (<see cref="IHoleSkippingStream"/>) are skipped in whole multiples of this many bytes, and never written.</summary>
    static abstract int HoleAlignment { get; }

    /// <summary>
    /// The unit of zero detection: the blocks of this many bytes from each chunk's start (a
    /// chunk's last one may be shorter) that are all zero are not written.
    /// </summary>
    static abstract int ZeroBlockSize { get; }

    /// <summary>
    /// Whether every chunk is read whole, so that each one but the content's last is a whole number
    /// of blocks and every chunk starts on a block boundary; otherwise a chunk is what one read returns.
    /// </summary>
    static abstract bool ReadsWholeChunks { get; }

    /// <summary>
    /// Writes <paramref name="length"/> bytes of <paramref name="buffer"/> from <paramref name="start"/>,
    /// a run of blocks that are not all zero, which are the content's bytes at <paramref name="offset"/>.
    /// The buffer is the copy's: a store may use it up to the end of the run's last whole block.
    /// </summary>
    ValueTask WriteAsync(byte[] buffer, int start, int length, long offset, CancellationToken cancellationToken);
}

/// <summary>
/// The one copy loop of the content stores: reads exactly a content's size from a layer stream in
/// pooled chunks, skips a sparse source's holes without reading them, hands each run of blocks that
/// are not all zero to the store's <see cref="IContentSink"/>, and fails when the stream ends early.
/// </summary>
internal static class ContentCopy
{
    /// <summary>How much is read from a layer stream and handed on at once, at the most.</summary>
    public const int ChunkSize = 1 << 20;

    /// <summary>
    /// The copy buffers: a pool of its own that keeps a few. The shared pool keeps one per thread
    /// that returns one, and a copy awaits across threads, so with many pool threads it held tens of MiB.
    /// </summary>
    private static readonly ArrayPool<byte> Buffers = ArrayPool<byte>.Create(ChunkSize, maxArraysPerBucket: 8);

    /// <summary>
    /// Copies exactly <paramref name="size"/> bytes of <paramref name="data"/> into <paramref name="sink"/>.
    /// Returns where the last bytes written end: 0 when nothing was, and less than the size when the
    /// content ends in holes or zeros.
    /// </summary>
    /// <exception cref="DecantException">The stream ended before <paramref name="size"/> bytes.</exception>
    public static async ValueTask<long> CopyAsync<TSink>(Stream data, long size, TSink sink, CancellationToken cancellationToken)
        where TSink : struct, IContentSink
    {
        if (size == 0)
        {
            return 0;
        }
        byte[] buffer = Buffers.Rent(ChunkSize);
        try
        {
            long offset = 0;
            long dataEnd = 0;
            while (offset < size)
            {
                if (data is IHoleSkippingStream sparse && sparse.SkipHole(TSink.HoleAlignment) is > 0 and var hole)
                {
                    offset += hole; // a sparse hole: left unwritten, whatever its size
                    continue;
                }
                int want = (int)Math.Min(ChunkSize, size - offset);
                int read = TSink.ReadsWholeChunks
                    ? await data.ReadAtLeastAsync(buffer.AsMemory(0, want), want, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false)
                    : await data.ReadAsync(buffer.AsMemory(0, want), cancellationToken).ConfigureAwait(false);
                if (read == 0 || (TSink.ReadsWholeChunks && read < want))
                {
                    throw new DecantException(DecantErrorKind.InvalidLayer, $"file content ended after {offset + read} of {size} bytes");
                }
                int position = 0;
                while (NextDataRun(buffer.AsSpan(0, read), TSink.ZeroBlockSize, ref position, out int start))
                {
                    await sink.WriteAsync(buffer, start, position - start, offset + start, cancellationToken).ConfigureAwait(false);
                    dataEnd = offset + position;
                }
                offset += read;
            }
            return dataEnd;
        }
        finally
        {
            Buffers.Return(buffer);
        }
    }

    /// <summary>Whether every byte is zero (vectorized).</summary>
    public static bool IsZero(ReadOnlySpan<byte> bytes) => !bytes.ContainsAnyExcept((byte)0);

    /// <summary>
    /// Finds the next run of blocks that are not all zero in <paramref name="chunk"/>, from
    /// <paramref name="position"/> (a block boundary): <paramref name="start"/> is where it begins,
    /// and <paramref name="position"/> moves to its end (at the chunk's end at the most). False when
    /// only zero blocks are left.
    /// </summary>
    private static bool NextDataRun(ReadOnlySpan<byte> chunk, int blockSize, ref int position, out int start)
    {
        start = position;
        while (start < chunk.Length && IsZero(Block(chunk, start, blockSize)))
        {
            start += blockSize;
        }
        if (start >= chunk.Length)
        {
            position = chunk.Length;
            return false;
        }
        int end = start + blockSize;
        while (end < chunk.Length && !IsZero(Block(chunk, end, blockSize)))
        {
            end += blockSize;
        }
        position = Math.Min(end, chunk.Length);
        return true;
    }

    private static ReadOnlySpan<byte> Block(ReadOnlySpan<byte> chunk, int start, int blockSize) =>
        chunk.Slice(start, Math.Min(blockSize, chunk.Length - start));
}
