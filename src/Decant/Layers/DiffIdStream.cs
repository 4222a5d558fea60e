using System.Security.Cryptography;
using Decant.Blobs;

namespace Decant.Layers;

/// <summary>
/// Wraps a layer's uncompressed tar stream: hashes it (the diff_id) and charges every byte to the
/// export's <see cref="UnpackBudget"/>; a recorder, when there is one, sees every byte too.
/// </summary>
internal sealed class DiffIdStream : ReadOnlyStream
{
    private readonly Stream _inner;
    private readonly UnpackBudget _budget;
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

    private readonly ILayerRecorder? _recorder;

    public DiffIdStream(Stream inner, UnpackBudget budget, ILayerRecorder? recorder = null)
    {
        _inner = inner;
        _budget = budget;
        _recorder = recorder;
    }

    public long BytesRead { get; private set; }

    /// <summary>The diff_id of everything read so far.</summary>
    public string DiffId => "sha256:" + Convert.ToHexStringLower(_hash.GetCurrentHash());

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
        _hash.AppendData(data);
        _recorder?.Observe(data);
        BytesRead += data.Length;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _hash.Dispose();
            _inner.Dispose();
        }
        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        _hash.Dispose();
        await _inner.DisposeAsync().ConfigureAwait(false);
        await base.DisposeAsync().ConfigureAwait(false);
    }
}
