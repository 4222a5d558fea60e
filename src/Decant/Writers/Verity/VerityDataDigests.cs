using System.Security.Cryptography;
using Decant.Interop;
using Decant.Model;
using Microsoft.Win32.SafeHandles;

namespace Decant.Writers.Verity;

/// <summary>
/// The dm-verity digests of an image's file data, computed while the image is still being written.
/// A disk-image writer's store hands over each file's blocks once they are final (<see cref="Add"/>),
/// and threads of their own (one per core) hash them from the page cache at idle priority
/// (SCHED_IDLE): they run only on a core that the export leaves idle (while the last layer decodes
/// alone, while commit lays out metadata on one core, while blocks are cloned from the cache), so
/// they never slow the export's own work. At commit the writer says which blocks are free, which
/// commit may write (<see cref="Seal"/>); what is not hashed yet is hashed on every core at normal
/// priority (<see cref="FinishAsync"/>, so a busy machine cannot starve it), and the tree then
/// hashes only the blocks never handed over or freed since: those commit wrote. The digests are
/// spooled laid out as the tree's level 0: block N's at N times the digest stride (a hash block
/// holds a power of two of digests, each padded to a power of two, and the two multiply to the
/// 4096-byte block for every digest size). Memory: the workers' buffers and the block ranges.
/// </summary>
internal sealed class VerityDataDigests : IAsyncDisposable
{
    /// <summary>The blocks a worker reads and hashes at once: 128 KiB (larger reads are no faster from the page cache).</summary>
    private const int PieceBlocks = 32;

    private readonly SafeFileHandle _image;
    private readonly SafeFileHandle _digests;
    private readonly VerityAlgorithm _algorithm;
    private readonly byte[] _salt;
    // The blocks handed over and not taken yet, in order, adjacent ones joined (files are mostly
    // written one after the other): a few ranges rather than one entry per file. Guarded by _gate,
    // which the idle threads wait on.
    private readonly object _gate = new();
    private readonly List<(long Start, long Stop)> _queued = [];
    private int _head;
    private bool _sealed;
    private readonly List<(long Start, long Stop)> _hashed = []; // guarded by _gate too
    private readonly CancellationTokenSource _stop = new();
    private readonly Task[] _idleWorkers;
    private List<(long Start, long Stop)> _covered = [];
    private List<(long Start, long Stop)> _free = [];

    private VerityDataDigests(SafeFileHandle image, VerityAlgorithm algorithm, byte[] salt, string spoolDirectory)
    {
        _image = image;
        _algorithm = algorithm;
        _salt = salt;
        _digests = SpoolFile.Create(spoolDirectory, "verity-digests", "the dm-verity digests of the files' data");
        // Threads of their own, one per core, because their scheduling policy cannot be undone: they
        // block on the queue and read the page cache without async calls, which would move them to
        // pool threads.
        _idleWorkers = [.. Enumerable.Range(0, Environment.ProcessorCount).Select(_ =>
        {
            var finished = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            new Thread(() => HashWhenIdle(finished)) { IsBackground = true, Name = "decant verity hashing" }.Start();
            return finished.Task;
        })];
    }

    /// <summary>The blocks whose digests this holds once finished (handed over, not freed): sorted, disjoint, each [Start, Stop).</summary>
    public IReadOnlyList<(long Start, long Stop)> Covered => _covered;

    /// <summary>Starts hashing the blocks of <paramref name="image"/> handed over by <see cref="Add"/>, spooling the digests in <paramref name="spoolDirectory"/>.</summary>
    public static VerityDataDigests Start(SafeFileHandle image, VerityAlgorithm algorithm, byte[] salt, string spoolDirectory) =>
        new(image, algorithm, salt, spoolDirectory);

    /// <summary>Hands over <paramref name="blocks"/> blocks from <paramref name="start"/> that hold file data and will not change again.</summary>
    public void Add(long start, long blocks)
    {
        if (blocks <= 0)
        {
            return;
        }
        lock (_gate)
        {
            if (_sealed)
            {
                return;
            }
            if (_queued.Count > _head && _queued[^1].Stop == start)
            {
                _queued[^1] = (_queued[^1].Start, start + blocks);
            }
            else
            {
                _queued.Add((start, start + blocks));
            }
            Monitor.Pulse(_gate);
        }
    }

    /// <summary>Takes the next piece (at most <see cref="PieceBlocks"/> blocks) of what is queued; when nothing is, waits for more if <paramref name="wait"/>, else (or once sealed) gives null.</summary>
    private (long Start, long Blocks)? TakePiece(bool wait)
    {
        lock (_gate)
        {
            while (_head == _queued.Count)
            {
                if (_sealed || !wait)
                {
                    return null;
                }
                Monitor.Wait(_gate);
            }
            var (start, stop) = _queued[_head];
            long blocks = Math.Min(PieceBlocks, stop - start);
            if (start + blocks == stop)
            {
                _head++;
                if (_head == _queued.Count)
                {
                    _queued.Clear();
                    _head = 0;
                }
            }
            else
            {
                _queued[_head] = (start + blocks, stop);
            }
            return (start, blocks);
        }
    }

    private void CompleteAdding()
    {
        lock (_gate)
        {
            _sealed = true;
            Monitor.PulseAll(_gate);
        }
    }

    /// <summary>
    /// Says which blocks commit may still write (<paramref name="free"/>: the runs of blocks no file
    /// uses, first block and count, in any order; their digests, when some were computed before the
    /// blocks were freed, are not to be used). Nothing is handed over after this.
    /// </summary>
    public void Seal(IEnumerable<(long Start, long Blocks)> free)
    {
        CompleteAdding();
        _free = Merge(free.Select(r => (r.Start, Stop: r.Start + r.Blocks)));
    }

    /// <summary>Hashes the blocks handed over and not hashed yet, on every core; then the digests of every block handed over and not freed are known.</summary>
    public async Task FinishAsync(CancellationToken cancellationToken)
    {
        CompleteAdding();
        await HashOnEveryCoreAsync(cancellationToken).ConfigureAwait(false);
        await Task.WhenAll(_idleWorkers).WaitAsync(cancellationToken).ConfigureAwait(false);
        _covered = Subtract(Merge(_hashed), _free);
    }

    /// <summary>One worker per core at normal priority, beside the idle one, hashing the pieces still queued.</summary>
    private async Task HashOnEveryCoreAsync(CancellationToken cancellationToken)
    {
        async Task WorkAsync()
        {
            var buffers = new Buffers(_algorithm);
            try
            {
                while (TakePiece(wait: false) is { } piece)
                {
                    var (start, blocks) = piece;
                    await ReadExactlyAsync(buffers.Data.AsMemory(0, (int)blocks * VerityTree.BlockSize), start * VerityTree.BlockSize, cancellationToken).ConfigureAwait(false);
                    var digests = HashPiece(start, blocks, buffers);
                    await RandomAccess.WriteAsync(_digests, digests, start * _algorithm.DigestStride, cancellationToken).ConfigureAwait(false);
                }
            }
            finally
            {
                buffers.Return();
            }
        }
        await Task.WhenAll(Enumerable.Range(0, Environment.ProcessorCount).Select(_ => Task.Run(WorkAsync, cancellationToken))).ConfigureAwait(false);
    }

    /// <summary>
    /// Reads the digests of blocks [<paramref name="first"/>, <paramref name="end"/>) into
    /// <paramref name="slots"/>, laid out as level 0's hash blocks from <paramref name="first"/>'s;
    /// the slots of blocks not covered read as zeros or stale digests, for the tree to fill in.
    /// </summary>
    public async ValueTask ReadAsync(long first, long end, Memory<byte> slots, CancellationToken cancellationToken)
    {
        long from = first * _algorithm.DigestStride;
        var destination = slots[..(int)((end - first) * _algorithm.DigestStride)];
        while (destination.Length > 0)
        {
            int read = await RandomAccess.ReadAsync(_digests, destination, from, cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                destination.Span.Clear(); // past the last digest written
                break;
            }
            destination = destination[read..];
            from += read;
        }
    }

    /// <summary>Stops the workers and waits for them, then deletes the spool.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        CompleteAdding();
        try
        {
            await Task.WhenAll(_idleWorkers).ConfigureAwait(false);
        }
        catch (Exception error) when (error is OperationCanceledException or DecantException or IOException)
        {
            // Stopped, or failed while the image was abandoned: FinishAsync reports a failure that matters.
        }
        _stop.Dispose();
        _digests.Dispose();
    }

    /// <summary>An idle-priority thread: hashes the pieces handed over, in the order they come, until there are no more.</summary>
    private void HashWhenIdle(TaskCompletionSource finished)
    {
        Posix.TryRunCallingThreadWhenIdle(); // refused (a seccomp filter, say): it runs as any thread does
        var buffers = new Buffers(_algorithm);
        try
        {
            while (!_stop.IsCancellationRequested && TakePiece(wait: true) is { } piece)
            {
                var (start, blocks) = piece;
                var data = buffers.Data.AsSpan(0, (int)blocks * VerityTree.BlockSize);
                for (int done = 0; done < data.Length;)
                {
                    int read = RandomAccess.Read(_image, data[done..], start * VerityTree.BlockSize + done);
                    done += read > 0 ? read : throw EndOfImage(start * VerityTree.BlockSize + done);
                }
                RandomAccess.Write(_digests, HashPiece(start, blocks, buffers).Span, start * _algorithm.DigestStride);
            }
            finished.SetResult();
        }
        catch (Exception error)
        {
            finished.SetException(error);
        }
        finally
        {
            buffers.Return();
        }
    }

    /// <summary>Hashes a piece's blocks, read into the buffers, into its digests (packed at the stride); records the piece as hashed.</summary>
    private ReadOnlyMemory<byte> HashPiece(long start, long blocks, Buffers buffers)
    {
        int stride = _algorithm.DigestStride;
        for (int i = 0; i < blocks; i++)
        {
            VerityTree.HashBlock(buffers.Hash, _salt, buffers.Data.AsSpan(i * VerityTree.BlockSize, VerityTree.BlockSize), buffers.Digests.AsSpan(i * stride, _algorithm.DigestBytes));
        }
        lock (_gate)
        {
            // Pieces mostly come in block order: a piece that follows the last one extends it.
            if (_hashed.Count > 0 && _hashed[^1].Stop == start)
            {
                _hashed[^1] = (_hashed[^1].Start, start + blocks);
            }
            else
            {
                _hashed.Add((start, start + blocks));
            }
        }
        return buffers.Digests.AsMemory(0, (int)blocks * stride);
    }

    private static DecantException EndOfImage(long offset) =>
        new(DecantErrorKind.OutputError, $"the image ends at byte {offset}, inside file data being hashed for dm-verity");

    private async ValueTask ReadExactlyAsync(Memory<byte> destination, long offset, CancellationToken cancellationToken)
    {
        while (destination.Length > 0)
        {
            int read = await RandomAccess.ReadAsync(_image, destination, offset, cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                throw EndOfImage(offset);
            }
            destination = destination[read..];
            offset += read;
        }
    }

    /// <summary>The ranges sorted and disjoint, overlapping and adjacent ones joined.</summary>
    private static List<(long Start, long Stop)> Merge(IEnumerable<(long Start, long Stop)> ranges)
    {
        var sorted = ranges.Where(r => r.Stop > r.Start).ToList();
        sorted.Sort((a, b) => a.Start.CompareTo(b.Start));
        var merged = new List<(long Start, long Stop)>();
        foreach (var range in sorted)
        {
            if (merged.Count > 0 && range.Start <= merged[^1].Stop)
            {
                merged[^1] = (merged[^1].Start, Math.Max(merged[^1].Stop, range.Stop));
            }
            else
            {
                merged.Add(range);
            }
        }
        return merged;
    }

    /// <summary>The blocks of <paramref name="ranges"/> not in <paramref name="minus"/> (both sorted and disjoint).</summary>
    private static List<(long Start, long Stop)> Subtract(List<(long Start, long Stop)> ranges, List<(long Start, long Stop)> minus)
    {
        var rest = new List<(long Start, long Stop)>();
        int m = 0;
        foreach (var (start, stop) in ranges)
        {
            long from = start;
            while (m < minus.Count && minus[m].Stop <= from)
            {
                m++;
            }
            for (int k = m; k < minus.Count && minus[k].Start < stop; k++)
            {
                if (minus[k].Start > from)
                {
                    rest.Add((from, minus[k].Start));
                }
                from = Math.Max(from, minus[k].Stop);
            }
            if (from < stop)
            {
                rest.Add((from, stop));
            }
        }
        return rest;
    }

    /// <summary>A worker's buffers: a piece's data and digests, and its hash.</summary>
    private sealed class Buffers(VerityAlgorithm algorithm)
    {
        public byte[] Data { get; } = GC.AllocateUninitializedArray<byte>(PieceBlocks * VerityTree.BlockSize);
        public byte[] Digests { get; } = new byte[PieceBlocks * algorithm.DigestStride];
        public IncrementalHash Hash { get; } = IncrementalHash.CreateHash(algorithm.Hash);

        public void Return() => Hash.Dispose();
    }
}
