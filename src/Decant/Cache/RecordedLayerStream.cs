using Decant.Layers;
using Decant.Tree;
using Microsoft.Win32.SafeHandles;

namespace Decant.Cache;

/// <summary>
/// A cached layer's tar, read from its record: the inline bytes as they are, and each object's
/// bytes only if someone reads them. The tar reader parses it as it parses any layer; at each file
/// whose data the record holds as an object, <see cref="TryPlaceAsync"/> places that object into
/// the writer's store and the reader then passes over the data unread (<see cref="Skip"/>). So a
/// warm export reads headers and nothing else, through the same reader and the same layer rules.
/// </summary>
internal sealed class RecordedLayerStream : Blobs.ReadOnlyStream, ISkippableStream, IStoredContentSource
{
    private readonly SplitStream.Reader _chunks;
    private readonly ObjectStore _objects;
    private readonly ObjectContentStore _placer;
    private readonly UnpackBudget _budget;
    private SplitStream.Chunk _chunk;
    private bool _ended;
    // Bytes of the current chunk not yet read or skipped, and for an object chunk where they start.
    private long _left;
    private int _range;
    private long _rangeOffset;
    private SafeFileHandle? _object;

    private RecordedLayerStream(SplitStream.Reader chunks, ObjectStore objects, ObjectContentStore placer, UnpackBudget budget)
    {
        _chunks = chunks;
        _objects = objects;
        _placer = placer;
        _budget = budget;
    }

    /// <summary>The archive offset of the next byte.</summary>
    public override long Position { get => ArchivePosition; set => throw new NotSupportedException(); }

    private long ArchivePosition { get; set; }

    /// <summary>Opens the record in <paramref name="record"/> (left open); objects are placed through <paramref name="placer"/>, and every byte passed is charged to <paramref name="budget"/>.</summary>
    public static async Task<RecordedLayerStream> OpenAsync(Stream record, ObjectStore objects, ObjectContentStore placer, UnpackBudget budget, CancellationToken cancellationToken) =>
        new(await SplitStream.Reader.OpenAsync(record, cancellationToken).ConfigureAwait(false), objects, placer, budget);

    /// <inheritdoc/>
    public override int Read(Span<byte> buffer) => throw new NotSupportedException("a cached layer's record is read asynchronously");

    /// <inheritdoc/>
    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (buffer.IsEmpty || !await EnsureChunkAsync(cancellationToken).ConfigureAwait(false))
        {
            return 0;
        }
        var want = buffer[..(int)Math.Min(buffer.Length, _left)];
        int read;
        if (_chunk.Kind == SplitStream.ChunkKind.Inline)
        {
            read = await _chunks.ReadInlineAsync(want, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            // Read only when the data is not placed as an object (a damaged record's odd layout): still exact.
            _object ??= SplitStream.OpenObject(_objects, _chunk.Digest!, _chunk.ObjectSize);
            while (_chunk.Ranges[_range].Length == _rangeOffset)
            {
                _range++; // an empty range of a sparse map
                _rangeOffset = 0;
            }
            var (start, length) = _chunk.Ranges[_range];
            read = await RandomAccess.ReadAsync(_object, want[..(int)Math.Min(want.Length, length - _rangeOffset)], start + _rangeOffset, cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                throw new Model.DecantException(Model.DecantErrorKind.IOError, $"the cached object {_chunk.Digest} ended early");
            }
        }
        Passed(read);
        return read;
    }

    /// <summary>Passes over the current object chunk's bytes without reading them; 0 within inline bytes.</summary>
    public long Skip(long count)
    {
        if (_chunk.Kind != SplitStream.ChunkKind.Object || _left == 0)
        {
            return 0;
        }
        long skipped = Math.Min(count, _left);
        Passed(skipped);
        return skipped;
    }

    /// <inheritdoc/>
    public async ValueTask<ContentRef?> TryPlaceAsync(long start, long storedLength, long size, FileMetadataHint? hint, CancellationToken cancellationToken)
    {
        if (ArchivePosition != start || !await EnsureChunkAsync(cancellationToken).ConfigureAwait(false)
            || _chunk.Kind != SplitStream.ChunkKind.Object || _left != _chunk.Length || _chunk.Length != storedLength || _chunk.ObjectSize != size)
        {
            return null;
        }
        return await _placer.PlaceAsync(_chunk.Digest!, size, hint, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public override async ValueTask DisposeAsync()
    {
        _object?.Dispose();
        await _chunks.DisposeAsync().ConfigureAwait(false);
        await base.DisposeAsync().ConfigureAwait(false);
    }

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _object?.Dispose();
        }
        base.Dispose(disposing);
    }

    /// <summary>Moves to the next chunk when the current one is used up; false at the record's end.</summary>
    private async ValueTask<bool> EnsureChunkAsync(CancellationToken cancellationToken)
    {
        while (_left == 0 && !_ended)
        {
            _object?.Dispose();
            _object = null;
            _chunk = await _chunks.NextAsync(cancellationToken).ConfigureAwait(false);
            _ended = _chunk.Kind == SplitStream.ChunkKind.End;
            _left = _chunk.Length;
            _range = 0;
            _rangeOffset = 0;
        }
        return !_ended;
    }

    /// <summary>Accounts for <paramref name="count"/> bytes read or skipped in the current chunk.</summary>
    private void Passed(long count)
    {
        _budget.Consume(count);
        ArchivePosition += count;
        _left -= count;
        if (_chunk.Kind != SplitStream.ChunkKind.Object)
        {
            return;
        }
        _rangeOffset += count;
        while (_range < _chunk.Ranges.Length && _rangeOffset >= _chunk.Ranges[_range].Length)
        {
            _rangeOffset -= _chunk.Ranges[_range].Length;
            _range++;
        }
    }
}
