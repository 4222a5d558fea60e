using System.Security.Cryptography;
using System.Threading.Channels;
using Decant.Blobs;

namespace Decant.Layers;

/// <summary>
/// Wraps a layer's uncompressed tar stream: hashes it (the diff_id) and charges every byte to the
/// export's <see cref="UnpackBudget"/>. When a core would otherwise sit idle (layers read one at
/// a time), hashing runs there, fed copies of what passes through, so it overlaps decompression
/// instead of adding to it; when every core is already decoding, it runs inline.
/// </summary>
internal sealed class DiffIdStream : ReadOnlyStream
{
    private const int ChunksInFlight = 4;
    private const int ChunkSize = 256 << 10;
    private readonly Stream _inner;
    private readonly UnpackBudget _budget;
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    // A fixed set of buffers circulates: free → filled by the reader → hashed → free again.
    private readonly Channel<(byte[] Buffer, int Length)> _chunks = Channel.CreateUnbounded<(byte[], int)>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
    private readonly Channel<byte[]> _free = Channel.CreateUnbounded<byte[]>();
    private readonly Task _hasher;
    private readonly bool _hashInBackground;

    public DiffIdStream(Stream inner, UnpackBudget budget, bool hashInBackground)
    {
        _inner = inner;
        _budget = budget;
        _hashInBackground = hashInBackground;
        if (!hashInBackground)
        {
            _hasher = Task.CompletedTask;
            return;
        }
        for (int i = 0; i < ChunksInFlight; i++)
        {
            _free.Writer.TryWrite(new byte[ChunkSize]);
        }
        _hasher = Task.Run(HashChunksAsync);
    }

    public long BytesRead { get; private set; }

    public override long Position { get => BytesRead; set => throw new NotSupportedException(); }

    /// <summary>Waits for the hashing to catch up and returns the diff_id of everything read.</summary>
    public async Task<string> CompleteAsync()
    {
        _chunks.Writer.TryComplete();
        await _hasher.ConfigureAwait(false);
        return "sha256:" + Convert.ToHexStringLower(_hash.GetCurrentHash());
    }

    public override int Read(Span<byte> buffer) =>
        throw new NotSupportedException("layer streams are read asynchronously");

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        int read = await _inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        if (read > 0)
        {
            _budget.Consume(read);
            BytesRead += read;
            if (!_hashInBackground)
            {
                _hash.AppendData(buffer.Span[..read]);
                return read;
            }
            for (int offset = 0; offset < read; offset += ChunkSize)
            {
                int length = Math.Min(ChunkSize, read - offset);
                byte[] chunk = await _free.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
                buffer.Span.Slice(offset, length).CopyTo(chunk);
                _chunks.Writer.TryWrite((chunk, length));
            }
        }
        return read;
    }

    private async Task HashChunksAsync()
    {
        await foreach (var (chunk, length) in _chunks.Reader.ReadAllAsync().ConfigureAwait(false))
        {
            _hash.AppendData(chunk, 0, length);
            _free.Writer.TryWrite(chunk);
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _chunks.Writer.TryComplete();
            _inner.Dispose();
        }
        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        _chunks.Writer.TryComplete();
        // Let the hasher finish what is queued before the hash goes away.
        await _hasher.ConfigureAwait(false);
        _hash.Dispose();
        await _inner.DisposeAsync().ConfigureAwait(false);
        await base.DisposeAsync().ConfigureAwait(false);
    }
}
