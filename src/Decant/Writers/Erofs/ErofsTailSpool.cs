using Decant.Model;
using Microsoft.Win32.SafeHandles;

namespace Decant.Writers.Erofs;

/// <summary>
/// The files' last partial blocks, kept in a spool beside the image (deleted when closed) until
/// commit places each inline after its inode or in a block of its own. Where a tail sits in the
/// spool never reaches the image, so a layer read ahead of its turn appends its tails here at
/// once. Tails are gathered in a buffer and written many at a time. Thread-safe.
/// </summary>
internal sealed class ErofsTailSpool(string directory) : IDisposable
{
    /// <summary>Tails are gathered this much at a time before they are written: one write for many small files.</summary>
    private const int BufferSize = 64 << 10;

    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly byte[] _buffer = new byte[BufferSize];
    private int _buffered;
    private SafeFileHandle? _file;
    private long _written;

    /// <summary>Appends a last partial block (shorter than a block) and returns where it is.</summary>
    public async ValueTask<long> AppendAsync(ReadOnlyMemory<byte> tail, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_buffered + tail.Length > BufferSize)
            {
                await FlushAsync(cancellationToken).ConfigureAwait(false);
            }
            long at = _written + _buffered;
            tail.CopyTo(_buffer.AsMemory(_buffered));
            _buffered += tail.Length;
            return at;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Reads the tail appended at <paramref name="offset"/> into <paramref name="destination"/> (its length).</summary>
    public async ValueTask ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken)
    {
        int read = await ReadSomeAsync(offset, destination, cancellationToken).ConfigureAwait(false);
        EnsureRead(read, destination.Length);
    }

    /// <summary>Reads from <paramref name="offset"/> into <paramref name="destination"/> as far as the spool goes (writing what is gathered first when the range reaches it); returns how much.</summary>
    private async ValueTask<int> ReadSomeAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (offset + destination.Length > _written)
            {
                await FlushAsync(cancellationToken).ConfigureAwait(false);
            }
            int total = 0;
            while (_file is not null && total < destination.Length)
            {
                int read = await RandomAccess.ReadAsync(_file, destination[total..], offset + total, cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    break;
                }
                total += read;
            }
            return total;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Writes the gathered tails at the spool's end; the caller holds the gate.</summary>
    private async ValueTask FlushAsync(CancellationToken cancellationToken)
    {
        if (_buffered == 0)
        {
            return;
        }
        _file ??= Open();
        await RandomAccess.WriteAsync(_file, _buffer.AsMemory(0, _buffered), _written, cancellationToken).ConfigureAwait(false);
        _written += _buffered;
        _buffered = 0;
    }

    private static void EnsureRead(int read, int length)
    {
        if (read < length)
        {
            throw new DecantException(DecantErrorKind.OutputError, $"the tail spool beside the image ended early ({read} of {length} bytes)");
        }
    }

    /// <summary>
    /// A reader for commit, which needs the tails in the tree's order rather than the order they came
    /// in: <paramref name="tailOf"/> gives item <c>i</c>'s tail (offset -1: none) for <c>i</c> below <paramref name="count"/>.
    /// </summary>
    public OrderedReader OpenReader(int count, Func<int, (long Offset, int Length)> tailOf) => new(this, count, tailOf);

    /// <summary>
    /// Reads tails for items asked for in ascending order, a batch of items at a time: the batch's
    /// tails are sorted by where they sit in the spool and read in as few ranges as they allow (the
    /// tails of files that came in one after another, most of a directory's in each layer, are one
    /// read, and a small gap between two tails is read rather than split), each byte once. Not
    /// thread-safe: commit's alone.
    /// </summary>
    internal sealed class OrderedReader(ErofsTailSpool spool, int count, Func<int, (long Offset, int Length)> tailOf)
    {
        /// <summary>What one batch reads into: up to half of it tails, the rest the gaps read across.</summary>
        private const int BufferSize = 512 << 10;

        /// <summary>A gap between two tails up to this long is read across rather than split into two reads.</summary>
        private const int MaxGap = 16 << 10;

        private readonly byte[] _buffer = new byte[BufferSize];
        private readonly List<(long Offset, int Length, int Item)> _batch = [];
        private int[] _slots = [];
        private int _first, _end;

        /// <summary>Item <paramref name="item"/>'s tail (empty when it has none); valid until the next call.</summary>
        /// <exception cref="ArgumentOutOfRangeException">An item before the current batch was asked for.</exception>
        public async ValueTask<ReadOnlyMemory<byte>> ReadAsync(int item, CancellationToken cancellationToken)
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(item, _first);
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(item, count);
            if (item >= _end)
            {
                await LoadAsync(item, cancellationToken).ConfigureAwait(false);
            }
            var (_, length) = tailOf(item);
            int slot = _slots[item - _first];
            return slot < 0 ? ReadOnlyMemory<byte>.Empty : _buffer.AsMemory(slot, length);
        }

        /// <summary>Reads the tails of the items from <paramref name="first"/> on, as many as half the buffer holds.</summary>
        private async ValueTask LoadAsync(int first, CancellationToken cancellationToken)
        {
            _batch.Clear();
            int end = first, tailBytes = 0;
            for (; end < count; end++)
            {
                var (offset, length) = tailOf(end);
                if (offset < 0 || length == 0)
                {
                    continue;
                }
                if (tailBytes + length > BufferSize / 2)
                {
                    break;
                }
                tailBytes += length;
                _batch.Add((offset, length, end));
            }
            (_first, _end) = (first, end);
            if (_slots.Length < end - first)
            {
                _slots = new int[Math.Max(end - first, 2 * _slots.Length)];
            }
            _slots.AsSpan(0, end - first).Fill(-1);
            _batch.Sort(static (a, b) => a.Offset.CompareTo(b.Offset));
            int used = 0, gapBudget = BufferSize - tailBytes;
            for (int i = 0; i < _batch.Count;)
            {
                // One range: the tails from i on that overlap or lie within a small gap of each other.
                long start = _batch[i].Offset, stop = start + _batch[i].Length;
                int j = i + 1;
                for (; j < _batch.Count; j++)
                {
                    var next = _batch[j];
                    long gap = Math.Max(0, next.Offset - stop);
                    if (gap > MaxGap || gap > gapBudget)
                    {
                        break;
                    }
                    gapBudget -= (int)gap;
                    stop = Math.Max(stop, next.Offset + next.Length);
                }
                int length = (int)(stop - start);
                int read = await spool.ReadSomeAsync(start, _buffer.AsMemory(used, length), cancellationToken).ConfigureAwait(false);
                EnsureRead(read, length);
                for (; i < j; i++)
                {
                    _slots[_batch[i].Item - first] = used + (int)(_batch[i].Offset - start);
                }
                used += length;
            }
        }
    }

    /// <summary>Closes (so deletes) the spool.</summary>
    public void Dispose()
    {
        _file?.Dispose();
        _gate.Dispose();
    }

    private SafeFileHandle Open() => SpoolFile.Create(directory, "erofs-tails", "files' last blocks");
}
