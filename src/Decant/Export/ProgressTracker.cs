using System.Diagnostics;

namespace Decant.Export;

/// <summary>
/// Counts bytes per layer (updated from the concurrent layer readers) and turns them into
/// <see cref="ExportProgress"/> snapshots: on every state change, and periodically while bytes flow.
/// A snapshot holds every layer, so one per change costs time quadratic in the layer count: past
/// <see cref="EveryChangeUpTo"/> layers (far more than any real image has; Docker stops at 127)
/// state changes publish at most one per <see cref="MinGap"/>, and the next tick carries the rest.
/// </summary>
internal sealed class ProgressTracker : IAsyncDisposable
{
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan MinGap = TimeSpan.FromMilliseconds(50);
    private const int EveryChangeUpTo = 256;
    private readonly bool _throttled;
    private TimeSpan _lastPublish;
    private readonly IProgress<ExportProgress>? _progress;
    private readonly Manifests.Descriptor[] _layers;
    private readonly long[] _bytesRead;
    private readonly int[] _states;
    private readonly Lock _gate = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _ticker;
    private (TimeSpan At, long Bytes) _lastSample;
    private double _rate;
    private ExportStage _stage = ExportStage.Layers;

    public ProgressTracker(IReadOnlyList<Manifests.Descriptor> layers, IProgress<ExportProgress>? progress)
    {
        _progress = progress;
        _layers = [.. layers];
        _bytesRead = new long[_layers.Length];
        _states = new int[_layers.Length];
        _throttled = _layers.Length > EveryChangeUpTo;
        _ticker = progress is null ? Task.CompletedTask : TickAsync(_stop.Token);
        Publish();
    }

    public void AddBytes(int layer, long count)
    {
        long total = Interlocked.Add(ref _bytesRead[layer], count);
        if (total >= _layers[layer].Size && Volatile.Read(ref _states[layer]) == (int)LayerState.Downloading)
        {
            SetState(layer, LayerState.Verifying);
        }
    }

    public void SetState(int layer, LayerState state)
    {
        Volatile.Write(ref _states[layer], (int)state);
        if (_progress is not null && (!_throttled || _clock.Elapsed - _lastPublish >= MinGap))
        {
            Publish();
        }
    }

    public void SetStage(ExportStage stage)
    {
        _stage = stage;
        Publish();
    }

    private async Task TickAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(Interval);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                Publish();
            }
        }
        catch (OperationCanceledException)
        {
            // Stopped at the end of the export.
        }
    }

    private void Publish()
    {
        if (_progress is null)
        {
            return;
        }
        lock (_gate)
        {
            var layers = new LayerProgress[_layers.Length];
            long read = 0;
            for (int i = 0; i < layers.Length; i++)
            {
                long bytes = Interlocked.Read(ref _bytesRead[i]);
                read += bytes;
                layers[i] = new LayerProgress(i, _layers[i].Digest, _layers[i].Size, bytes, (LayerState)Volatile.Read(ref _states[i]));
            }
            var now = _clock.Elapsed;
            _lastPublish = now;
            if (now - _lastSample.At >= Interval)
            {
                double seconds = (now - _lastSample.At).TotalSeconds;
                double instant = (read - _lastSample.Bytes) / seconds;
                _rate = _lastSample.At == TimeSpan.Zero ? instant : (0.7 * _rate) + (0.3 * instant);
                _lastSample = (now, read);
            }
            _progress.Report(new ExportProgress
            {
                Stage = _stage,
                Layers = layers,
                TotalBytes = _layers.Sum(l => l.Size),
                BytesRead = read,
                BytesPerSecond = _rate,
            });
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _ticker.ConfigureAwait(false);
        _stop.Dispose();
    }
}
