using Decant.Layers;

namespace Decant.Cache;

/// <summary>
/// Records a layer as it is read into a <see cref="SplitStream"/>: every byte of the tar inline,
/// except the stored data of regular files over <see cref="InlineLimit"/> bytes, which becomes a
/// reference to the object their content was stored as (for a sparse file, with its map: the
/// stored bytes are the map's ranges of the object). Holds back only the bytes the tar reader has read
/// ahead of its parsing (at most its buffer), so memory does not grow with the layer.
/// </summary>
internal sealed class SplitStreamRecorder : ILayerRecorder, IAsyncDisposable
{
    /// <summary>Contents up to this size stay inline, as composefs keeps them: an object would cost more than the bytes.</summary>
    public const long InlineLimit = 64;

    private readonly SplitStream.Writer _writer;
    // Bytes seen but not yet written, contiguous in the archive from _pendingStart.
    private byte[] _pending = new byte[128 * 1024];
    private int _pendingCount;
    private long _pendingStart;
    // Archive offset just past the last byte seen, and the end of the data range being dropped.
    private long _seen;
    private long _dropUntil;
    private long _referencedLength = -1;
    private IReadOnlyList<TarSparseSegment>? _referencedMap;

    /// <summary>Records into <paramref name="destination"/> (left open).</summary>
    public SplitStreamRecorder(Stream destination)
    {
        _writer = new SplitStream.Writer(destination);
    }

    /// <inheritdoc/>
    public void Observe(ReadOnlySpan<byte> bytes)
    {
        long at = _seen;
        _seen += bytes.Length;
        if (_dropUntil > at)
        {
            int drop = (int)Math.Min(bytes.Length, _dropUntil - at);
            bytes = bytes[drop..];
            at += drop;
        }
        if (bytes.IsEmpty)
        {
            return;
        }
        if (_pendingCount == 0)
        {
            _pendingStart = at;
        }
        if (_pendingCount + bytes.Length > _pending.Length)
        {
            Array.Resize(ref _pending, Math.Max(_pending.Length * 2, _pendingCount + bytes.Length));
        }
        bytes.CopyTo(_pending.AsSpan(_pendingCount));
        _pendingCount += bytes.Length;
    }

    /// <inheritdoc/>
    public async ValueTask<bool> BeginDataAsync(long start, long storedLength, bool isRegularFile, IReadOnlyList<TarSparseSegment>? sparseMap, CancellationToken cancellationToken)
    {
        if (_referencedLength >= 0)
        {
            throw new InvalidOperationException("the previous entry's content was never given to EndDataAsync");
        }
        // Everything before the entry's data is settled: write it.
        await WritePendingUntilAsync(start, cancellationToken).ConfigureAwait(false);
        if (!isRegularFile || storedLength <= InlineLimit)
        {
            return false;
        }
        // The data's bytes already read ahead are dropped now, the rest as they arrive.
        long end = start + storedLength;
        int alreadySeen = (int)Math.Min(_pendingCount, end - start);
        if (_pendingCount > 0)
        {
            RemovePending(alreadySeen);
            _pendingStart = end;
        }
        _dropUntil = end;
        _referencedLength = storedLength;
        _referencedMap = sparseMap;
        return true;
    }

    /// <inheritdoc/>
    public async ValueTask EndDataAsync(string objectDigest, long size, CancellationToken cancellationToken)
    {
        if (_referencedLength < 0)
        {
            throw new InvalidOperationException("no entry's data is being kept by reference");
        }
        if (_referencedMap is { } map)
        {
            await _writer.WriteSparseObjectAsync(objectDigest, size, map, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            await _writer.WriteObjectAsync(objectDigest, size, cancellationToken).ConfigureAwait(false);
        }
        _referencedLength = -1;
        _referencedMap = null;
    }

    /// <inheritdoc/>
    public async ValueTask CompleteAsync(CancellationToken cancellationToken)
    {
        await WritePendingUntilAsync(_seen, cancellationToken).ConfigureAwait(false);
        await _writer.CompleteAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Ends the split stream's compression (incomplete unless <see cref="CompleteAsync"/> ran).</summary>
    public ValueTask DisposeAsync() => _writer.DisposeAsync();

    private async ValueTask WritePendingUntilAsync(long offset, CancellationToken cancellationToken)
    {
        int count = (int)Math.Clamp(offset - _pendingStart, 0, _pendingCount);
        if (count == 0)
        {
            return;
        }
        await _writer.WriteInlineAsync(_pending.AsMemory(0, count), cancellationToken).ConfigureAwait(false);
        RemovePending(count);
        _pendingStart += count;
    }

    private void RemovePending(int count)
    {
        _pending.AsSpan(count, _pendingCount - count).CopyTo(_pending);
        _pendingCount -= count;
    }
}
