using Decant.Tree;

namespace Decant.Writers;

/// <summary>What the image writers' content stores do at commit with the contents they wrote.</summary>
internal static class ContentRelease
{
    /// <summary>
    /// Releases every content in <paramref name="written"/> that the final tree does not use
    /// (<paramref name="used"/>), whether or not a layer released it, then forgets them all. The
    /// caller holds its store's lock.
    /// </summary>
    public static void ReleaseAllBut<T>(List<T> written, IReadOnlySet<ContentRef> used, Action<T> release) where T : ContentRef
    {
        foreach (var content in written)
        {
            if (!used.Contains(content))
            {
                release(content);
            }
        }
        written.Clear();
    }
}
