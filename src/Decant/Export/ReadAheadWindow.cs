namespace Decant.Export;

/// <summary>
/// Decides when each layer may start reading. Layers start strictly in order, at most
/// <c>jobs</c> read at once, and layers read ahead of the one being applied may hold at most
/// <c>maxBytesInFlight</c> of compressed size between them: their contents wait on disk until
/// their turn, so this bounds the extra disk an export uses. The lowest unapplied layer may
/// always start, so one huge layer never stalls the export.
/// </summary>
internal sealed class ReadAheadWindow
{
    private readonly int _jobs;
    private readonly long _maxBytesInFlight;
    private readonly long[] _sizes;
    private readonly Lock _gate = new();
    // One signal per waiting layer, so a change wakes only the layer it concerns: the one whose
    // turn is next. (One shared signal woke every waiting layer on every change: quadratic in the
    // layer count.)
    private readonly TaskCompletionSource?[] _turn;
    private int _nextToStart;
    private int _applied;
    private int _reading;
    private long _bytesInFlight;

    public ReadAheadWindow(int jobs, long maxBytesInFlight, IEnumerable<long> sizes)
    {
        _jobs = Math.Max(1, jobs);
        _maxBytesInFlight = maxBytesInFlight;
        _sizes = [.. sizes];
        _turn = new TaskCompletionSource?[_sizes.Length];
    }

    /// <summary>How many layers may read at once.</summary>
    public int Jobs => _jobs;

    /// <summary>
    /// Whether a core is free of layer reading: every layer has started, and fewer are still read
    /// than there are cores (a layer read then may split its own work across them).
    /// </summary>
    public bool CoreIsFree()
    {
        lock (_gate)
        {
            return _nextToStart == _sizes.Length && _reading < Environment.ProcessorCount;
        }
    }

    /// <summary>Waits until layer <paramref name="layer"/> may start reading.</summary>
    public async Task WaitTurnAsync(int layer, CancellationToken cancellationToken)
    {
        while (true)
        {
            Task changed;
            lock (_gate)
            {
                bool inOrder = layer == _nextToStart;
                bool slotFree = _reading < _jobs;
                bool fits = layer == _applied || _bytesInFlight + _sizes[layer] <= _maxBytesInFlight;
                if (inOrder && slotFree && fits)
                {
                    _nextToStart++;
                    _reading++;
                    _bytesInFlight += _sizes[layer];
                    Signal();
                    return;
                }
                changed = (_turn[layer] ??= NewSignal()).Task;
            }
            await changed.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Layer finished reading (or failed): its job slot is free.</summary>
    public void ReadFinished()
    {
        lock (_gate)
        {
            _reading--;
            Signal();
        }
    }

    /// <summary>Layer <paramref name="layer"/> is applied: its bytes no longer count as in flight.</summary>
    public void Applied(int layer)
    {
        lock (_gate)
        {
            _applied = layer + 1;
            _bytesInFlight -= _sizes[layer];
            Signal();
        }
    }

    /// <summary>Wakes the next layer in order, the only one a change can let start.</summary>
    private void Signal()
    {
        if (_nextToStart < _turn.Length && _turn[_nextToStart] is { } next)
        {
            _turn[_nextToStart] = null;
            next.TrySetResult();
        }
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
