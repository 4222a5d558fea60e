using System.Security.Cryptography;
using System.Collections.Concurrent;
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
    // The blocks handed over and not hashed yet (first block and count). A worker takes a run and
    // puts back what follows its first piece. Lock-free, so a store handing blocks over never waits
    // for an idle thread the scheduler has set aside while it held a lock.
    private readonly ConcurrentQueue<(long Start, long Blocks)> _handedOver = new();
    private volatile bool _sealed;
    private volatile bool _finishing;
    private readonly Lock _hashedLock = new();
    private readonly List<List<(long Start, long Stop)>> _hashed = []; // each worker's pieces, added as it ends
    private readonly CancellationTokenSource _stop = new();
    private readonly Task[] _idleWorkers;
    private List<(long Start, long Stop)> _covered = [];
    private List<(long Start, long Stop)> _free = [];

    /// <summary>Starts hashing the blocks of <paramref name="image"/> handed over by <see cref="Add"/>, spooling the digests in <paramref name="spoolDirectory"/>.</summary>
    public VerityDataDigests(SafeFileHandle image, VerityAlgorithm algorithm, byte[] salt, string spoolDirectory)
    {
        _image = image;
        _algorithm = algorithm;
        _salt = salt;
        _digests = SpoolFile.Create(spoolDirectory, "verity-digests", "the dm-verity digests of the files' data");
        // Threads of their own, one per core, because their scheduling policy cannot be undone: they
        // read the page cache without async calls, which would move them to pool threads.
        _idleWorkers = [.. Enumerable.Range(0, Environment.ProcessorCount).Select(_ =>
        {
            var finished = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            new Thread(() => HashWhenIdle(finished)) { IsBackground = true, Name = "decant verity hashing" }.Start();
            return finished.Task;
        })];
    }

    /// <summary>The blocks whose digests this holds once finished (handed over, not freed): sorted, disjoint, each [Start, Stop).</summary>
    public IReadOnlyList<(long Start, long Stop)> Covered => _covered;

    /// <summary>Hands over <paramref name="blocks"/> blocks from <paramref name="start"/> that hold file data and will not change again.</summary>
    public void Add(long start, long blocks)
    {
        if (blocks > 0 && !_sealed)
        {
            _handedOver.Enqueue((start, blocks));
        }
    }

    /// <summary>Takes the first piece (at most <see cref="PieceBlocks"/> blocks) of the next run handed over, putting the rest back; null when none is queued.</summary>
    private (long Start, long Blocks)? TakePiece()
    {
        if (!_handedOver.TryDequeue(out var run))
        {
            return null;
        }
        if (run.Blocks > PieceBlocks)
        {
            _handedOver.Enqueue((run.Start + PieceBlocks, run.Blocks - PieceBlocks));
        }
        return (run.Start, Math.Min(PieceBlocks, run.Blocks));
    }

    /// <summary>
    /// Says which blocks commit may still write (<paramref name="free"/>: the runs of blocks no file
    /// uses, first block and count, in any order; their digests, when some were computed before the
    /// blocks were freed, are not to be used). Nothing is handed over after this.
    /// </summary>
    public void Seal(IEnumerable<(long Start, long Blocks)> free)
    {
        _sealed = true;
        _free = Merge(free.Select(r => (r.Start, Stop: r.Start + r.Blocks)));
    }

    /// <summary>
    /// Hashes the blocks handed over and not hashed yet, on every core at normal priority (the idle
    /// threads stop after the piece each is on); then the digests of every block handed over and not
    /// freed are known. A piece an idle thread put back too late for the workers is simply not
    /// covered: the tree hashes it.
    /// </summary>
    public async Task FinishAsync(CancellationToken cancellationToken)
    {
        _sealed = true;
        _finishing = true;
        await HashOnEveryCoreAsync(cancellationToken).ConfigureAwait(false);
        await Task.WhenAll(_idleWorkers).WaitAsync(cancellationToken).ConfigureAwait(false);
        _covered = Subtract(Merge(_hashed.SelectMany(pieces => pieces)), _free);
    }

    /// <summary>One worker per core at normal priority hashing what is still queued.</summary>
    private async Task HashOnEveryCoreAsync(CancellationToken cancellationToken)
    {
        async Task WorkAsync()
        {
            var buffers = new Buffers(_algorithm);
            try
            {
                while (TakePiece() is { } piece)
                {
                    var (start, blocks) = piece;
                    await ReadExactlyAsync(buffers.Data.AsMemory(0, (int)blocks * VerityTree.BlockSize), start * VerityTree.BlockSize, cancellationToken).ConfigureAwait(false);
                    var digests = buffers.HashPiece(start, blocks, _salt);
                    await RandomAccess.WriteAsync(_digests, digests, start * _algorithm.DigestStride, cancellationToken).ConfigureAwait(false);
                }
            }
            finally
            {
                Retire(buffers);
            }
        }
        await Task.WhenAll(Enumerable.Range(0, Environment.ProcessorCount).Select(_ => Task.Run(WorkAsync, cancellationToken))).ConfigureAwait(false);
    }

    /// <summary>Keeps a worker's hashed pieces for <see cref="FinishAsync"/> and frees its hash.</summary>
    private void Retire(Buffers buffers)
    {
        lock (_hashedLock)
        {
            _hashed.Add(buffers.Hashed);
        }
        buffers.Hash.Dispose();
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
        _sealed = true;
        _finishing = true;
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

    /// <summary>
    /// An idle-priority thread: hashes the pieces handed over, about in the order they come, until
    /// commit finishes the hashing (it then stops after its piece) or the writer is disposed. When
    /// nothing is queued it sleeps a millisecond at a time: waiting on a lock or an event instead
    /// could keep a store waiting while the scheduler sets this thread aside.
    /// </summary>
    private void HashWhenIdle(TaskCompletionSource finished)
    {
        Posix.TryRunCallingThreadWhenIdle(); // refused (a seccomp filter, say): it runs as any thread does
        var buffers = new Buffers(_algorithm);
        Exception? failure = null;
        try
        {
            while (!_finishing && !_stop.IsCancellationRequested)
            {
                if (TakePiece() is not { } piece)
                {
                    Thread.Sleep(1);
                    continue;
                }
                var (start, blocks) = piece;
                var data = buffers.Data.AsSpan(0, (int)blocks * VerityTree.BlockSize);
                for (int done = 0; done < data.Length;)
                {
                    int read = RandomAccess.Read(_image, data[done..], start * VerityTree.BlockSize + done);
                    done += read > 0 ? read : throw EndOfImage(start * VerityTree.BlockSize + done);
                }
                RandomAccess.Write(_digests, buffers.HashPiece(start, blocks, _salt).Span, start * _algorithm.DigestStride);
            }
        }
        catch (Exception error)
        {
            failure = error;
        }
        // Its pieces are kept before FinishAsync, waiting on it, reads them.
        Retire(buffers);
        if (failure is null)
        {
            finished.SetResult();
        }
        else
        {
            finished.SetException(failure);
        }
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

    /// <summary>A worker's buffers (a piece's data and digests), its hash, and the pieces it hashed.</summary>
    private sealed class Buffers(VerityAlgorithm algorithm)
    {
        public byte[] Data { get; } = GC.AllocateUninitializedArray<byte>(PieceBlocks * VerityTree.BlockSize);
        public byte[] Digests { get; } = new byte[PieceBlocks * algorithm.DigestStride];
        public VerityBlockHash Hash { get; } = new(algorithm);

        /// <summary>The pieces hashed, adjacent ones joined.</summary>
        public List<(long Start, long Stop)> Hashed { get; } = [];

        /// <summary>Hashes a piece's blocks, read into <see cref="Data"/>, into its digests (packed at the stride), and records it.</summary>
        public ReadOnlyMemory<byte> HashPiece(long start, long blocks, byte[] salt)
        {
            int stride = algorithm.DigestStride;
            for (int i = 0; i < blocks; i++)
            {
                Hash.Hash(salt, Data.AsSpan(i * VerityTree.BlockSize, VerityTree.BlockSize), Digests.AsSpan(i * stride, algorithm.DigestBytes));
            }
            if (Hashed.Count > 0 && Hashed[^1].Stop == start)
            {
                Hashed[^1] = (Hashed[^1].Start, start + blocks);
            }
            else
            {
                Hashed.Add((start, start + blocks));
            }
            return Digests.AsMemory(0, (int)blocks * stride);
        }
    }
}
