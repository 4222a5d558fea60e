using Decant.Export;

namespace Decant.Tests.Support;

/// <summary>Records every snapshot an export reports, synchronously (Progress&lt;T&gt; would post them to the thread pool, out of order), and calls <c>onReport</c> with each.</summary>
internal sealed class ProgressRecorder(Action<ExportProgress>? onReport = null) : IProgress<ExportProgress>
{
    public List<ExportProgress> Snapshots { get; } = [];

    public void Report(ExportProgress value)
    {
        lock (Snapshots)
        {
            Snapshots.Add(value);
        }
        onReport?.Invoke(value);
    }
}
