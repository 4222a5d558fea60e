namespace Decant.Model;

/// <summary>
/// The one place the library asks the GC for anything. Memory is bounded by what the export holds
/// (metadata only, pooled buffers), not by forced collections; the command line runs with the
/// workstation GC in its default concurrent mode, whose youngest generation stays small (a
/// non-concurrent workstation GC lets it grow towards 200 MiB).
/// </summary>
internal static class MemoryGovernor
{
    /// <summary>
    /// Called once between reading layers and writing the output: the layer indexes are garbage
    /// by then, so a full collection lets the writer reuse their memory instead of adding to it.
    /// </summary>
    public static void BetweenPhases() => GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
}
