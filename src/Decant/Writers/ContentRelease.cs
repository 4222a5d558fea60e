using Decant.Tree;

namespace Decant.Writers;

/// <summary>What the image writers' content stores do at commit with the contents they wrote.</summary>
internal static class ContentRelease
{
    /// <summary>
    /// Releases every content in <paramref name="written"/> that the final tree does not use
    /// (<paramref name="keep"/> says which it does), whether or not a layer released it, then
    /// forgets them all. The caller holds its store's lock.
    /// </summary>
    public static void ReleaseAllBut<T>(List<T> written, Func<T, bool> keep, Action<T> release) where T : ContentRef
    {
        foreach (var content in written)
        {
            if (!keep(content))
            {
                release(content);
            }
        }
        written.Clear();
    }
}
