using System.Buffers;
using System.Buffers.Binary;
using Decant.Model;
using Microsoft.Win32.SafeHandles;

namespace Decant.Cache;

/// <summary>
/// A layer's exact tar stream, kept as the bytes that are not file content (headers, PAX and GNU
/// records, padding, the end-of-archive blocks, whatever follows them) plus references to content
/// objects for the file data in between, in order. Regenerating it gives back the tar byte for byte,
/// so its sha256 can be checked against the layer's diff_id (composefs-rs's splitstream is the model).
/// On disk: the magic line, then a zstd stream of chunks: <c>1, length (LE64), bytes</c> for inline
/// bytes, <c>2, size (LE64), digest (32 bytes)</c> for an object, <c>3, size, digest, count (LE32),
/// count × (offset, length) (LE64)</c> for a sparse file's stored ranges of an object, and <c>0</c> at the end.
/// </summary>
internal static partial class SplitStream
{
    /// <summary>The first bytes of every split stream file, with the format's version.</summary>
    public static ReadOnlySpan<byte> Magic => "decant-splitstream 1\n"u8;

    private const byte EndTag = 0, InlineTag = 1, ObjectTag = 2, SparseObjectTag = 3;
    private const int CopyChunk = 1 << 20;

    /// <summary>Writes a split stream; inline bytes are coalesced and compressed. Disposed without <see cref="CompleteAsync"/>, the stream lacks its end marker and no reader accepts it.</summary>
    internal sealed class Writer : IAsyncDisposable
    {
        private readonly ZstdSharp.CompressionStream _compressed;
        private readonly ArrayBufferWriter<byte> _inline = new(64 * 1024);

        /// <summary>Starts a split stream on <paramref name="destination"/> (left open).</summary>
        public Writer(Stream destination)
        {
            destination.Write(Magic);
            _compressed = new ZstdSharp.CompressionStream(destination, level: 3, leaveOpen: true);
            // A record is headers and small files: a 128 KiB window finds their repeats, and keeps the
            // compressor's memory small (level 3's default window is 2 MiB per layer being converted).
            _compressed.SetParameter(ZstdSharp.Unsafe.ZSTD_cParameter.ZSTD_c_windowLog, 17);
        }

        /// <summary>Adds bytes of the tar that are kept as they are.</summary>
        public async ValueTask WriteInlineAsync(ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken)
        {
            _inline.Write(bytes.Span);
            if (_inline.WrittenCount >= 1 << 20)
            {
                await FlushInlineAsync(cancellationToken).ConfigureAwait(false);
            }
        }

        /// <summary>Adds a reference to an object of <paramref name="size"/> bytes, which stands for that many bytes of the tar.</summary>
        public ValueTask WriteObjectAsync(string digest, long size, CancellationToken cancellationToken) =>
            WriteObjectChunkAsync(ObjectTag, digest, size, cancellationToken);

        private async ValueTask WriteObjectChunkAsync(byte tag, string digest, long size, CancellationToken cancellationToken)
        {
            if (!Digest.TryParse(digest, out var parsed) || parsed.Algorithm != "sha256")
            {
                throw new ArgumentException($"not a sha256 digest: \"{digest}\"", nameof(digest));
            }
            await FlushInlineAsync(cancellationToken).ConfigureAwait(false);
            byte[] chunk = new byte[1 + 8 + 32];
            chunk[0] = tag;
            BinaryPrimitives.WriteInt64LittleEndian(chunk.AsSpan(1), size);
            Convert.FromHexString(parsed.Hex).CopyTo(chunk, 9);
            await _compressed.WriteAsync(chunk, cancellationToken).ConfigureAwait(false);
        }

        /// <summary>Adds a reference to the ranges <paramref name="map"/> of an object of <paramref name="size"/> bytes (a sparse file's stored data), which stand for their total length of the tar.</summary>
        public async ValueTask WriteSparseObjectAsync(string digest, long size, IReadOnlyList<Layers.TarSparseSegment> map, CancellationToken cancellationToken)
        {
            await WriteObjectChunkAsync(SparseObjectTag, digest, size, cancellationToken).ConfigureAwait(false);
            byte[] ranges = new byte[4 + 16 * map.Count];
            BinaryPrimitives.WriteInt32LittleEndian(ranges, map.Count);
            for (int i = 0; i < map.Count; i++)
            {
                BinaryPrimitives.WriteInt64LittleEndian(ranges.AsSpan(4 + 16 * i), map[i].Offset);
                BinaryPrimitives.WriteInt64LittleEndian(ranges.AsSpan(12 + 16 * i), map[i].Length);
            }
            await _compressed.WriteAsync(ranges, cancellationToken).ConfigureAwait(false);
        }

        /// <summary>Ends the stream; without this, the file is incomplete and a reader refuses it.</summary>
        public async ValueTask CompleteAsync(CancellationToken cancellationToken)
        {
            await FlushInlineAsync(cancellationToken).ConfigureAwait(false);
            await _compressed.WriteAsync(new[] { EndTag }, cancellationToken).ConfigureAwait(false);
            await _compressed.FlushAsync(cancellationToken).ConfigureAwait(false);
        }

        /// <summary>Finishes the zstd frame.</summary>
        public ValueTask DisposeAsync() => _compressed.DisposeAsync();

        private async ValueTask FlushInlineAsync(CancellationToken cancellationToken)
        {
            if (_inline.WrittenCount == 0)
            {
                return;
            }
            byte[] header = new byte[9];
            header[0] = InlineTag;
            BinaryPrimitives.WriteInt64LittleEndian(header.AsSpan(1), _inline.WrittenCount);
            await _compressed.WriteAsync(header, cancellationToken).ConfigureAwait(false);
            await _compressed.WriteAsync(_inline.WrittenMemory, cancellationToken).ConfigureAwait(false);
            _inline.ResetWrittenCount();
        }
    }

    /// <summary>What a split stream holds next.</summary>
    internal enum ChunkKind
    {
        /// <summary>The end marker: the record is complete.</summary>
        End,
        /// <summary>Bytes of the tar kept as they are.</summary>
        Inline,
        /// <summary>An object's bytes (for a sparse file, some ranges of them) standing for the tar's stored file data.</summary>
        Object,
    }

    /// <summary>One chunk of a split stream.</summary>
    /// <param name="Kind">What the chunk is.</param>
    /// <param name="Length">How many bytes of the tar it stands for.</param>
    /// <param name="Digest">For an object chunk, the object's digest (<c>sha256:HEX</c>).</param>
    /// <param name="ObjectSize">For an object chunk, the object's size (a sparse file's whole content).</param>
    /// <param name="Ranges">For an object chunk, the ranges of the object the tar stores, in order (the whole object unless sparse).</param>
    internal readonly record struct Chunk(ChunkKind Kind, long Length, string? Digest, long ObjectSize, (long Start, long Length)[] Ranges);

    /// <summary>Reads a split stream chunk by chunk; an inline chunk's bytes are read with <see cref="ReadInlineAsync"/> before the next chunk.</summary>
    internal sealed class Reader : IAsyncDisposable
    {
        private readonly ZstdSharp.DecompressionStream _chunks;
        private readonly byte[] _scratch = new byte[32];

        private Reader(Stream splitStream)
        {
            _chunks = new ZstdSharp.DecompressionStream(splitStream, leaveOpen: true);
        }

        /// <summary>Starts reading <paramref name="splitStream"/> (left open), after checking its magic.</summary>
        /// <exception cref="DecantException">It is not a split stream (<see cref="DecantErrorKind.IOError"/>: the cache is damaged).</exception>
        public static async Task<Reader> OpenAsync(Stream splitStream, CancellationToken cancellationToken)
        {
            byte[] magic = new byte[Magic.Length];
            if (await splitStream.ReadAtLeastAsync(magic, magic.Length, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false) != magic.Length || !magic.AsSpan().SequenceEqual(Magic))
            {
                throw Damaged("it does not start with the split stream magic");
            }
            return new Reader(splitStream);
        }

        /// <summary>The next chunk.</summary>
        /// <exception cref="DecantException">The stream is truncated or holds something else (<see cref="DecantErrorKind.IOError"/>).</exception>
        public async ValueTask<Chunk> NextAsync(CancellationToken cancellationToken)
        {
            try
            {
                int tag = await _chunks.ReadAsync(_scratch.AsMemory(0, 1), cancellationToken).ConfigureAwait(false) == 1 ? _scratch[0] : -1;
                switch (tag)
                {
                    case EndTag:
                        return new Chunk(ChunkKind.End, 0, null, 0, []);
                    case InlineTag:
                        return new Chunk(ChunkKind.Inline, await ReadInt64Async(cancellationToken).ConfigureAwait(false), null, 0, []);
                    case ObjectTag or SparseObjectTag:
                    {
                        long size = await ReadInt64Async(cancellationToken).ConfigureAwait(false);
                        await _chunks.ReadExactlyAsync(_scratch.AsMemory(0, 32), cancellationToken).ConfigureAwait(false);
                        string digest = "sha256:" + Convert.ToHexStringLower(_scratch.AsSpan(0, 32));
                        var ranges = tag == ObjectTag ? [(0L, size)] : await ReadRangesAsync(size, cancellationToken).ConfigureAwait(false);
                        return new Chunk(ChunkKind.Object, ranges.Sum(r => r.Length), digest, size, ranges);
                    }
                    default:
                        throw Damaged(tag < 0 ? "it ends without its end marker" : $"it holds an unknown chunk type {tag}");
                }
            }
            catch (EndOfStreamException)
            {
                throw Damaged("it ends inside a chunk");
            }
            catch (ZstdSharp.ZstdException error)
            {
                throw Damaged($"its compressed stream is corrupt ({error.Message})");
            }
        }

        /// <summary>Reads the current inline chunk's next bytes (at most what is left of it, which the caller tracks).</summary>
        public async ValueTask<int> ReadInlineAsync(Memory<byte> destination, CancellationToken cancellationToken)
        {
            int read;
            try
            {
                read = await _chunks.ReadAsync(destination, cancellationToken).ConfigureAwait(false);
            }
            catch (ZstdSharp.ZstdException error)
            {
                throw Damaged($"its compressed stream is corrupt ({error.Message})");
            }
            return read > 0 || destination.IsEmpty ? read : throw Damaged("it ends inside inline bytes");
        }

        /// <summary>Ends the decompression.</summary>
        public ValueTask DisposeAsync() => _chunks.DisposeAsync();

        /// <summary>A sparse reference's ranges, each checked to lie inside the object.</summary>
        private async ValueTask<(long Start, long Length)[]> ReadRangesAsync(long size, CancellationToken cancellationToken)
        {
            await _chunks.ReadExactlyAsync(_scratch.AsMemory(0, 4), cancellationToken).ConfigureAwait(false);
            int count = BinaryPrimitives.ReadInt32LittleEndian(_scratch);
            if (count < 0 || count > 1 << 20)
            {
                throw Damaged($"it holds a sparse map of {count} ranges");
            }
            var ranges = new (long, long)[count];
            for (int i = 0; i < count; i++)
            {
                long start = await ReadInt64Async(cancellationToken).ConfigureAwait(false);
                long length = await ReadInt64Async(cancellationToken).ConfigureAwait(false);
                if (start > size || length > size - start)
                {
                    throw Damaged($"a sparse range ({start}, {length}) lies outside its {size}-byte object");
                }
                ranges[i] = (start, length);
            }
            return ranges;
        }

        private async ValueTask<long> ReadInt64Async(CancellationToken cancellationToken)
        {
            await _chunks.ReadExactlyAsync(_scratch.AsMemory(0, 8), cancellationToken).ConfigureAwait(false);
            long value = BinaryPrimitives.ReadInt64LittleEndian(_scratch);
            return value >= 0 ? value : throw Damaged($"it holds a negative length {value}");
        }
    }

    /// <summary>
    /// Regenerates the tar a split stream describes into <paramref name="destination"/>, reading each
    /// object from <paramref name="objects"/>; returns the bytes written. With a null destination it
    /// only checks that the record is complete and every object it names is present at its size.
    /// </summary>
    /// <exception cref="DecantException">The file is not a complete split stream, or an object is missing or of the wrong size (<see cref="DecantErrorKind.IOError"/>: the cache is damaged).</exception>
    public static async Task<long> RegenerateAsync(Stream splitStream, ObjectStore objects, Stream? destination, CancellationToken cancellationToken)
    {
        await using var chunks = await Reader.OpenAsync(splitStream, cancellationToken).ConfigureAwait(false);
        byte[] buffer = ArrayPool<byte>.Shared.Rent(CopyChunk);
        long total = 0;
        try
        {
            while (await chunks.NextAsync(cancellationToken).ConfigureAwait(false) is { Kind: not ChunkKind.End } chunk)
            {
                if (chunk.Kind == ChunkKind.Inline)
                {
                    for (long left = chunk.Length; left > 0;)
                    {
                        int read = await chunks.ReadInlineAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, left)), cancellationToken).ConfigureAwait(false);
                        if (destination is not null)
                        {
                            await destination.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
                        }
                        left -= read;
                    }
                }
                else if (destination is null)
                {
                    // Only the presence check: one stat per object, nothing opened.
                    long? size = objects.SizeOf(chunk.Digest!);
                    if (size != chunk.ObjectSize)
                    {
                        throw Damaged(size is null ? $"object {chunk.Digest} is missing" : $"object {chunk.Digest} is {size} bytes, not {chunk.ObjectSize}");
                    }
                }
                else
                {
                    using var handle = OpenObject(objects, chunk.Digest!, chunk.ObjectSize);
                    foreach (var (start, length) in chunk.Ranges)
                    {
                        await CopyRangeAsync(handle, start, length, chunk.Digest!, destination, buffer, cancellationToken).ConfigureAwait(false);
                    }
                }
                total += chunk.Length;
            }
            return total;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Opens the object <paramref name="digest"/>, checking that it is present at <paramref name="size"/> bytes.</summary>
    /// <exception cref="DecantException">The object is missing or of another size (<see cref="DecantErrorKind.IOError"/>: the cache is damaged).</exception>
    internal static SafeFileHandle OpenObject(ObjectStore objects, string digest, long size)
    {
        var handle = objects.TryOpen(digest) ?? throw Damaged($"object {digest} is missing");
        long length = RandomAccess.GetLength(handle);
        if (length != size)
        {
            handle.Dispose();
            throw Damaged($"object {digest} is {length} bytes, not {size}");
        }
        return handle;
    }

    private static async ValueTask CopyRangeAsync(SafeFileHandle handle, long start, long length, string digest, Stream destination, byte[] buffer, CancellationToken cancellationToken)
    {
        for (long offset = start; offset < start + length;)
        {
            int read = await RandomAccess.ReadAsync(handle, buffer.AsMemory(0, (int)Math.Min(buffer.Length, start + length - offset)), offset, cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                throw Damaged($"object {digest} ended early");
            }
            await destination.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
            offset += read;
        }
    }

    private static DecantException Damaged(string what) => new(DecantErrorKind.IOError, $"the cached layer record is damaged: {what}");
}
