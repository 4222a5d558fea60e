namespace Decant.Layers;

/// <summary>Reading the current entry's content, expanding sparse holes, and skipping what is left.</summary>
internal sealed partial class LayerTarReader
{
    // Bytes of the current entry's stored data not yet consumed, and the padding after them.
    private long _storedRemaining;
    private int _padding;
    // For sparse entries: the map, the expanded size, the logical read position and next segment.
    private List<TarSparseSegment>? _sparse;
    private long _logicalSize;
    private long _logicalPosition;
    private int _segmentIndex;
    private string _entryName = "";
    // Bumped whenever the current entry changes, so a stale data stream cannot read another entry.
    private int _entryVersion;

    /// <summary>
    /// A stream of exactly the current entry's logical content (sparse holes read as zeros). What
    /// the caller does not read is skipped by the next <see cref="ReadNextAsync"/>. The stream stops
    /// working once the reader moves on.
    /// </summary>
    public Stream OpenData()
    {
        if (_current is null)
        {
            throw new InvalidOperationException("there is no current tar entry: call ReadNextAsync first");
        }
        return new TarEntryStream(this, _entryVersion, _current.Size);
    }

    /// <summary>
    /// How many bytes of the current entry are sparse holes: logical size the stored data does not
    /// account for, which a byte count of the archive never sees (see <see cref="LayerIndexer"/>).
    /// </summary>
    /// <summary>Where the current entry's stored data lies in the archive, before any of it is read: its offset, its length there, and for a sparse entry the map of where those bytes go in the file.</summary>
    internal (long Start, long Length, IReadOnlyList<TarSparseSegment>? SparseMap) CurrentStoredData => (_input.Position, _storedRemaining, _sparse);

    internal long CurrentHoleBytes => _sparse is null ? 0 : _logicalSize - _sparse.Sum(segment => segment.Length);

    private void BeginEntry(long storedRemaining, int padding, List<TarSparseSegment>? sparse, long logicalSize, string name)
    {
        _entryVersion++;
        _storedRemaining = storedRemaining;
        _padding = padding;
        _sparse = sparse;
        _logicalSize = logicalSize;
        _logicalPosition = 0;
        _segmentIndex = 0;
        _entryName = name;
    }

    private void EndCurrentEntry()
    {
        _entryVersion++;
        _current = null;
        _sparse = null;
        _storedRemaining = 0;
        _padding = 0;
    }

    private async ValueTask SkipRestOfEntryAsync(CancellationToken cancellationToken)
    {
        if (_current is null)
        {
            return;
        }
        long data = _storedRemaining;
        int padding = _padding;
        string name = _entryName;
        EndCurrentEntry();
        if (!await _input.SkipAsync(data, cancellationToken).ConfigureAwait(false))
        {
            throw TarErrors.Truncated(_input.Position, $"the data of \"{name}\"", name);
        }
        if (!await _input.SkipAsync(padding, cancellationToken).ConfigureAwait(false))
        {
            // The data is whole but the archive stops before its padding: umoci 0.4.7's `insert`
            // writes layers like this and umoci (Go's archive/tar) reads them, so this is the end.
            _ended = true;
        }
    }

    internal async ValueTask<int> ReadDataAsync(Memory<byte> buffer, int version, CancellationToken cancellationToken)
    {
        CheckVersion(version);
        int count = NextSlice(buffer.Length, out bool hole);
        if (count == 0)
        {
            return 0;
        }
        if (hole)
        {
            // Holes come from no input, so nothing else would notice a cancellation while they expand.
            cancellationToken.ThrowIfCancellationRequested();
            buffer.Span[..count].Clear();
            _logicalPosition += count;
            return count;
        }
        int read = await _input.ReadAsync(buffer[..count], cancellationToken).ConfigureAwait(false);
        return Consumed(read);
    }

    internal int ReadData(Span<byte> buffer, int version)
    {
        CheckVersion(version);
        int count = NextSlice(buffer.Length, out bool hole);
        if (count == 0)
        {
            return 0;
        }
        if (hole)
        {
            buffer[..count].Clear();
            _logicalPosition += count;
            return count;
        }
        return Consumed(_input.Read(buffer[..count]));
    }

    /// <summary>
    /// When the current read position is in a sparse hole, moves past it without producing its
    /// zeros: as far as the hole goes, in whole multiples of <paramref name="alignment"/> (and only
    /// from an aligned position). Returns how far it moved; 0 outside holes.
    /// </summary>
    internal long SkipHole(int version, int alignment)
    {
        CheckVersion(version);
        if (_sparse is null || _logicalPosition >= _logicalSize || _logicalPosition % alignment != 0)
        {
            return 0;
        }
        NextSlice(1, out bool hole);
        if (!hole)
        {
            return 0;
        }
        long holeEnd = _segmentIndex < _sparse.Count ? _sparse[_segmentIndex].Offset : _logicalSize;
        long skip = holeEnd - _logicalPosition;
        skip -= holeEnd == _logicalSize ? 0 : skip % alignment;
        _logicalPosition += skip;
        return skip;
    }

    /// <summary>How many bytes the next read may produce, and whether they are a sparse hole.</summary>
    private int NextSlice(int bufferLength, out bool hole)
    {
        hole = false;
        if (_sparse is null)
        {
            return (int)Math.Min(bufferLength, _storedRemaining);
        }
        if (_logicalPosition >= _logicalSize)
        {
            return 0;
        }
        while (_segmentIndex < _sparse.Count && _sparse[_segmentIndex].End <= _logicalPosition)
        {
            _segmentIndex++;
        }
        if (_segmentIndex < _sparse.Count && _sparse[_segmentIndex].Offset <= _logicalPosition)
        {
            return (int)Math.Min(bufferLength, _sparse[_segmentIndex].End - _logicalPosition);
        }
        hole = true;
        long holeEnd = _segmentIndex < _sparse.Count ? _sparse[_segmentIndex].Offset : _logicalSize;
        return (int)Math.Min(bufferLength, holeEnd - _logicalPosition);
    }

    private int Consumed(int read)
    {
        if (read == 0)
        {
            throw TarErrors.Truncated(_input.Position, $"the data of \"{_entryName}\"", _entryName);
        }
        _storedRemaining -= read;
        _logicalPosition += read;
        return read;
    }

    private void CheckVersion(int version)
    {
        if (version != _entryVersion)
        {
            throw new InvalidOperationException("this tar entry's data is no longer available: the reader has moved past the entry");
        }
    }
}
