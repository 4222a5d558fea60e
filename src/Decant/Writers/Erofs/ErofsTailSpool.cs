using Decant.Model;
using Microsoft.Win32.SafeHandles;

namespace Decant.Writers.Erofs;

/// <summary>Where files' last partial blocks are read from.</summary>
internal interface ITailReader
{
    /// <summary>Reads the tail appended at <paramref name="offset"/> into <paramref name="destination"/> (its length).</summary>
    ValueTask ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken);
}

/// <summary>
/// The files' last partial blocks, kept in a spool beside the image (deleted when closed) until
/// commit places each inline after its inode or in a block of its own. Where a tail sits in the
/// spool never reaches the image, so a layer read ahead of its turn appends its tails here at
/// once. Tails are gathered in a buffer and written many at a time. Thread-safe.
/// </summary>
internal sealed class ErofsTailSpool(string directory) : ITailReader, IDisposable
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

    /// <summary>A reader for commit, which asks for the tails in the tree's order rather than the order they came in.</summary>
    public WindowedReader OpenReader() => new(this);

    /// <summary>
    /// Reads tails through a few windows of the spool, each read whole: tails of files that came in
    /// one after another (most of a directory, in each layer) come from one read, not one each.
    /// Not thread-safe: commit's alone.
    /// </summary>
    internal sealed class WindowedReader(ErofsTailSpool spool) : ITailReader
    {
        private const int WindowSize = 64 << 10;
        private const int WindowCount = 8;
        private readonly byte[]?[] _buffers = new byte[WindowCount][];
        private readonly long[] _starts = new long[WindowCount];
        private readonly int[] _lengths = new int[WindowCount];
        private readonly long[] _lastUse = new long[WindowCount];
        private long _clock;

        /// <summary>Reads the tail appended at <paramref name="offset"/> into <paramref name="destination"/> (its length).</summary>
        public async ValueTask ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken)
        {
            ArgumentOutOfRangeException.ThrowIfGreaterThan(destination.Length, WindowSize);
            int window = Find(offset, destination.Length);
            if (window < 0)
            {
                window = LeastRecentlyUsed();
                var buffer = _buffers[window] ??= new byte[WindowSize];
                _starts[window] = offset;
                _lengths[window] = 0; // invalid until the read below succeeds
                _lengths[window] = await spool.ReadSomeAsync(offset, buffer, cancellationToken).ConfigureAwait(false);
                EnsureRead(_lengths[window], destination.Length);
            }
            _lastUse[window] = ++_clock;
            _buffers[window].AsMemory((int)(offset - _starts[window]), destination.Length).CopyTo(destination);
        }

        private int Find(long offset, int length)
        {
            for (int i = 0; i < WindowCount; i++)
            {
                if (_lengths[i] > 0 && offset >= _starts[i] && offset + length <= _starts[i] + _lengths[i])
                {
                    return i;
                }
            }
            return -1;
        }

        private int LeastRecentlyUsed()
        {
            int oldest = 0;
            for (int i = 1; i < WindowCount; i++)
            {
                if (_lastUse[i] < _lastUse[oldest])
                {
                    oldest = i;
                }
            }
            return oldest;
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
