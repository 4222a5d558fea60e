using System.Threading.Channels;
using Decant.Interop;
using Microsoft.Win32.SafeHandles;

namespace Decant.Writers.Tar;

/// <summary>
/// A tar written into a file by position, so contents are copied into it while the walk goes on.
/// The walk only lays the tar out: it gathers headers, padding and the places of small contents
/// into batches (a buffer for one stretch of the tar), and hands each batch, and each larger
/// content, to workers of their own. A worker reads a batch's small contents from the spool into
/// its buffer and writes the stretch with one call; a larger content it copies in the kernel
/// (<c>copy_file_range</c>: one copy, not a read into memory and a write back out). Each byte of
/// the tar has its offset when the walk reaches it, so the output is the same bytes whichever
/// worker finishes first.
/// </summary>
internal sealed class TarFileOutput : Stream
{
    /// <summary>Contents up to this size go into a batch; larger ones are copied in the kernel.</summary>
    internal const int InlineContentLimit = 256 << 10;

    /// <summary>A batch goes to the workers once it holds this much of the tar.</summary>
    private const int BatchTarget = 256 << 10;

    /// <summary>A batch's buffer: its target and one more small content (a header larger than what is left gets a buffer of its own).</summary>
    private const int BatchCapacity = BatchTarget + InlineContentLimit;


    private readonly SafeFileHandle _file;
    private readonly Channel<Job> _jobs;
    private readonly Channel<Batch> _freeBatches;
    private readonly int _batchLimit;
    private readonly Task[] _workers;
    private readonly CancellationTokenSource _stop;
    // One worker at a time writes into the tar: the kernel serializes writes to one file on its
    // inode lock anyway, and a second writer spins on that lock for as long as the first holds it
    // (a tenth of an export's CPU, measured); waiting here sleeps instead.
    private readonly SemaphoreSlim _writing = new(1, 1);
    // The spool's space given back in runs, a few MiB at a time, not a call for each stretch moved.
    private BatchedHolePunch? _released;

    /// <summary>How much of the spool is moved out before its space is punched out together.</summary>
    private const long ReleaseBatchBytes = 16 << 20;

    /// <summary>How far ahead of what the walk has laid out the tar's blocks are allocated, at a time.</summary>
    private const long AllocationStep = 64 << 20;

    private long _allocatedEnd; // the tar's blocks are allocated up to here (the walk's alone)
    private bool _cannotAllocate;
    private int _batchesMade;
    private Batch? _current;
    private long _currentStart; // the file offset of the current batch, or of what the walk reaches next

    /// <summary>One job: a batch, or a content copied in the kernel from <c>Source</c> at <c>From</c> to the tar at <c>To</c>.</summary>
    private readonly record struct Job(Batch? Batch, SafeFileHandle? Source, long From, long To, long Length);

    /// <summary>A small content's place in a batch: <c>Length</c> bytes of <c>Source</c> at <c>From</c>, at <c>At</c> in the buffer.</summary>
    private readonly record struct Piece(SafeFileHandle Source, long From, int At, int Length);

    /// <summary>One stretch of the tar being laid out: headers and padding already in the buffer, small contents still in the spool.</summary>
    private sealed class Batch(byte[] buffer)
    {
        public byte[] Buffer = buffer;
        public int Length;
        public long Start;
        public readonly List<Piece> Pieces = [];
    }

    public TarFileOutput(SafeFileHandle file, CancellationToken cancellationToken)
    {
        _file = file;
        _stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        // One worker per core: the copies are most of the work (the walk's headers are a small part
        // of it). A few jobs queued per worker keep them busy without holding the walk far ahead of
        // them; two batches per worker bound the memory the batches take.
        int workers = Environment.ProcessorCount;
        _jobs = Channel.CreateBounded<Job>(new BoundedChannelOptions(4 * workers) { SingleWriter = true });
        _batchLimit = 2 * workers;
        _freeBatches = Channel.CreateBounded<Batch>(_batchLimit);
        _workers = new Task[workers];
        for (int i = 0; i < workers; i++)
        {
            _workers[i] = Task.Run(() => WorkAsync(_stop.Token), CancellationToken.None);
        }
    }

    /// <summary>
    /// Moves <paramref name="length"/> bytes of <paramref name="source"/> at <paramref name="offset"/>
    /// (which must lie within the file: a hole reads as zeros, the end of the file does not) to the
    /// end of the tar: once copied, that range of the source is punched out (with its neighbours, once
    /// <see cref="ReleaseBatchBytes"/> are moved). The source's page-cache
    /// pages are then freed as the tar's are taken, so the kernel reuses them for the tar instead of
    /// finding fresh ones (in a VM whose free memory goes back to the host, a fresh page costs the
    /// host a fault: this took a tar export of the host bench image from 8.3 to 5.0 s), the copy
    /// holds about one output's worth of page cache rather than two, and the spool's disk space is
    /// given back as the tar grows.
    /// </summary>
    public async ValueTask MoveFromAsync(SafeFileHandle source, long offset, long length, CancellationToken cancellationToken)
    {
        // Set by the walk before any job that uses it is sent.
        _released ??= new BatchedHolePunch(source, SpoolContentStore.SpoolBlock, ReleaseBatchBytes);
        if (!ReferenceEquals(_released.File, source))
        {
            throw new InvalidOperationException("a tar file output moves contents out of one spool");
        }
        if (length > InlineContentLimit)
        {
            await SendCurrentAsync(cancellationToken).ConfigureAwait(false);
            AllocateUpTo(_currentStart + length);
            await UntilWorkerFailureAsync(_jobs.Writer.WriteAsync(new Job(null, source, offset, _currentStart, length), _stop.Token), cancellationToken).ConfigureAwait(false);
            _currentStart += length;
            return;
        }
        if (length == 0)
        {
            return;
        }
        var batch = await RoomForAsync((int)length, cancellationToken).ConfigureAwait(false);
        batch.Pieces.Add(new Piece(source, offset, batch.Length, (int)length));
        batch.Length += (int)length;
        await SendWhenFullAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The current batch, with room for <paramref name="length"/> more bytes: a full one is sent first, and a new one taken (waiting for a worker to give one back when all are out).</summary>
    private async ValueTask<Batch> RoomForAsync(int length, CancellationToken cancellationToken)
    {
        if (_current is not null && _current.Length + length > _current.Buffer.Length)
        {
            await SendCurrentAsync(cancellationToken).ConfigureAwait(false);
        }
        if (_current is null)
        {
            if (!_freeBatches.Reader.TryRead(out var batch))
            {
                if (_batchesMade < _batchLimit)
                {
                    batch = new Batch(GC.AllocateUninitializedArray<byte>(BatchCapacity));
                    _batchesMade++;
                }
                else
                {
                    batch = await UntilWorkerFailureAsync(_freeBatches.Reader.ReadAsync(_stop.Token), cancellationToken).ConfigureAwait(false);
                }
            }
            if (batch.Buffer.Length < length)
            {
                batch.Buffer = GC.AllocateUninitializedArray<byte>(length); // one oversized header: given back at its normal size
            }
            batch.Start = _currentStart;
            _current = batch;
        }
        return _current;
    }

    private ValueTask SendWhenFullAsync(CancellationToken cancellationToken) =>
        _current is not null && _current.Length >= BatchTarget ? SendCurrentAsync(cancellationToken) : ValueTask.CompletedTask;

    /// <summary>Hands the current batch to the workers; the walk goes on after it.</summary>
    private async ValueTask SendCurrentAsync(CancellationToken cancellationToken)
    {
        if (_current is null)
        {
            return;
        }
        var batch = _current;
        _current = null;
        _currentStart = batch.Start + batch.Length;
        AllocateUpTo(_currentStart);
        await UntilWorkerFailureAsync(_jobs.Writer.WriteAsync(new Job(batch, null, 0, 0, 0), _stop.Token), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Allocates the tar's blocks up to <paramref name="end"/> and on by <see cref="AllocationStep"/>,
    /// before the workers write there (<see cref="FileAllocation"/>): the tar is dense, so no block
    /// is allocated that it will not fill, and <see cref="CompleteAsync"/> cuts off the rest of the
    /// last step. The walk stays at most a step ahead of the disk the tar takes.
    /// </summary>
    private void AllocateUpTo(long end)
    {
        if (_cannotAllocate || end <= _allocatedEnd)
        {
            return;
        }
        long to = end + AllocationStep;
        if (FileAllocation.TryAllocate(_file, _allocatedEnd, to - _allocatedEnd))
        {
            _allocatedEnd = to;
        }
        else
        {
            _cannotAllocate = true; // not on this filesystem (or no room ahead): the writes allocate
        }
    }

    /// <summary>Waits for a step the workers can hold up; if one of them failed meanwhile, its error is what is reported, not the cancellation it caused.</summary>
    private async ValueTask UntilWorkerFailureAsync(ValueTask step, CancellationToken cancellationToken)
    {
        try
        {
            await step.ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            await WorkersAsync().ConfigureAwait(false);
            throw;
        }
    }

    private async ValueTask<T> UntilWorkerFailureAsync<T>(ValueTask<T> step, CancellationToken cancellationToken)
    {
        try
        {
            return await step.ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            await WorkersAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Writes what is buffered, waits for every copy, and sets the file's length to the tar's.</summary>
    public async ValueTask CompleteAsync(CancellationToken cancellationToken)
    {
        await SendCurrentAsync(cancellationToken).ConfigureAwait(false);
        _jobs.Writer.TryComplete();
        await WorkersAsync().ConfigureAwait(false);
        // The last bytes may be a copy's: the length is set, not left to whichever write came last.
        RandomAccess.SetLength(_file, _currentStart);
    }

    /// <summary>Waits for the workers; a worker's own failure is what is reported, not the cancellation it caused.</summary>
    private async Task WorkersAsync()
    {
        try
        {
            await Task.WhenAll(_workers).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            var failure = _workers.Select(w => w.Exception?.InnerException).FirstOrDefault(e => e is not null and not OperationCanceledException);
            if (failure is not null)
            {
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
            }
            throw;
        }
    }

    private async Task WorkAsync(CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var job in _jobs.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                if (job.Batch is { } batch)
                {
                    await WriteBatchAsync(batch, cancellationToken).ConfigureAwait(false);
                    continue;
                }
                await WriteAloneAsync(() => KernelCopy.CopyRangeAsync(job.Source!, job.From, _file, job.To, job.Length, cancellationToken), cancellationToken).ConfigureAwait(false);
                _released!.Release(job.From, job.Length);
            }
        }
        catch
        {
            // Stop the walk and the other workers: this failure ends the export.
            await _stop.CancelAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Runs one write into the tar while no other worker writes into it (see <see cref="_writing"/>).</summary>
    private async ValueTask WriteAloneAsync(Func<ValueTask> write, CancellationToken cancellationToken)
    {
        await _writing.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await write().ConfigureAwait(false);
        }
        finally
        {
            _writing.Release();
        }
    }

    /// <summary>Reads a batch's small contents into its buffer, writes the stretch of the tar, gives the contents' spool space back and the batch to the walk.</summary>
    private async ValueTask WriteBatchAsync(Batch batch, CancellationToken cancellationToken)
    {
        foreach (var piece in batch.Pieces)
        {
            for (int done = 0; done < piece.Length;)
            {
                int read = await RandomAccess.ReadAsync(piece.Source, batch.Buffer.AsMemory(piece.At + done, piece.Length - done), piece.From + done, cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    throw new IOException($"the spool ended {piece.Length - done} bytes before the content being copied into the tar did");
                }
                done += read;
            }
        }
        await WriteAloneAsync(() => RandomAccess.WriteAsync(_file, batch.Buffer.AsMemory(0, batch.Length), batch.Start, cancellationToken), cancellationToken).ConfigureAwait(false);
        foreach (var piece in batch.Pieces)
        {
            _released!.Release(piece.From, piece.Length);
        }
        batch.Pieces.Clear();
        batch.Length = 0;
        if (batch.Buffer.Length != BatchCapacity)
        {
            batch.Buffer = GC.AllocateUninitializedArray<byte>(BatchCapacity);
        }
        _freeBatches.Writer.TryWrite(batch);
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (buffer.IsEmpty)
        {
            return;
        }
        var batch = await RoomForAsync(buffer.Length, cancellationToken).ConfigureAwait(false);
        buffer.Span.CopyTo(batch.Buffer.AsSpan(batch.Length));
        batch.Length += buffer.Length;
        await SendWhenFullAsync(cancellationToken).ConfigureAwait(false);
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(byte[] buffer, int offset, int count) =>
        throw new NotSupportedException("the tar output is written asynchronously");

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override void Flush()
    {
    }

    /// <summary>Stops the workers (after a failure) and waits for them, so none writes into the file after it is closed.</summary>
    public override async ValueTask DisposeAsync()
    {
        _jobs.Writer.TryComplete();
        await _stop.CancelAsync().ConfigureAwait(false);
        await Task.WhenAll(_workers).ContinueWith(_ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default).ConfigureAwait(false);
        _stop.Dispose();
        _writing.Dispose();
        await base.DisposeAsync().ConfigureAwait(false);
    }

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => _currentStart + (_current?.Length ?? 0); set => throw new NotSupportedException(); }
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}
