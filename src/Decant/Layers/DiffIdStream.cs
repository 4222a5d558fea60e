using System.Security.Cryptography;
using Decant.Blobs;

namespace Decant.Layers;

/// <summary>
/// Wraps a layer's uncompressed tar stream: hashes it (the diff_id) and charges every byte to the
/// export's <see cref="UnpackBudget"/>; a recorder, when there is one, sees every byte too. A stream
/// whose diff_id is already known (an uncompressed blob, checked against its own digest as it is
/// read, which is then the diff_id) is not hashed a second time.
/// </summary>
internal sealed class DiffIdStream : ReadOnlyStream
{
    private readonly Stream _inner;
    private readonly UnpackBudget _budget;
    private readonly IncrementalHash? _hash;
    private readonly string? _knownDiffId;
    private readonly ILayerRecorder? _recorder;

    /// <param name="inner">The uncompressed tar.</param>
    /// <param name="budget">What every byte is charged to.</param>
    /// <param name="recorder">Sees every byte, or null.</param>
    /// <param name="knownDiffId">The digest the stream is checked against elsewhere (its blob's), which <see cref="DiffId"/> then is; null to hash it here.</param>
    public DiffIdStream(Stream inner, UnpackBudget budget, ILayerRecorder? recorder = null, string? knownDiffId = null)
    {
        _inner = inner;
        _budget = budget;
        _recorder = recorder;
        _knownDiffId = knownDiffId;
        _hash = knownDiffId is null ? IncrementalHash.CreateHash(HashAlgorithmName.SHA256) : null;
    }

    public long BytesRead { get; private set; }

    /// <summary>The diff_id of everything read so far (the known one, when given).</summary>
    public string DiffId => _knownDiffId ?? "sha256:" + Convert.ToHexStringLower(_hash!.GetCurrentHash());

    public override long Position { get => BytesRead; set => throw new NotSupportedException(); }

    public override int Read(Span<byte> buffer)
    {
        int read = _inner.Read(buffer);
        Account(buffer[..read]);
        return read;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        int read = await _inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        Account(buffer.Span[..read]);
        return read;
    }

    private void Account(ReadOnlySpan<byte> data)
    {
        if (data.IsEmpty)
        {
            return;
        }
        _budget.Consume(data.Length);
        _hash?.AppendData(data);
        _recorder?.Observe(data);
        BytesRead += data.Length;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _hash?.Dispose();
            _inner.Dispose();
        }
        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        _hash?.Dispose();
        await _inner.DisposeAsync().ConfigureAwait(false);
        await base.DisposeAsync().ConfigureAwait(false);
    }
}
