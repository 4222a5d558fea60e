namespace Decant.Model;

/// <summary>
/// Keeps the process's memory bounded whatever the image size. The GC sizes its youngest
/// generation from the CPU cache (tens of MiB on server parts) and Native AOT offers no knob for
/// it, so the per-entry loops call <see cref="Tick"/>: after every few MiB of allocation it runs
/// a young-generation collection, which is cheap because little of a layer's garbage survives.
/// </summary>
internal static class MemoryGovernor
{
    private const long AllocationBudget = 8L << 20;
    private static long _nextCollectionAt = AllocationBudget;

    public static void Tick()
    {
        long allocated = GC.GetTotalAllocatedBytes(precise: false);
        long next = Volatile.Read(ref _nextCollectionAt);
        if (allocated < next || Interlocked.CompareExchange(ref _nextCollectionAt, allocated + AllocationBudget, next) != next)
        {
            return;
        }
        GC.Collect(0, GCCollectionMode.Forced, blocking: true);
    }

    /// <summary>
    /// Called once between reading layers and writing the output: the layer indexes are garbage
    /// by then, so a full collection lets the writer reuse their memory instead of adding to it.
    /// </summary>
    public static void BetweenPhases() => GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
}
