using Decant.Tree;

namespace Decant.Writers;

/// <summary>
/// The contents an image writer's store wrote, in the order written, for what commit does with
/// them: the ones the final tree does not use give their space back. Thread-safe.
/// </summary>
internal sealed class WrittenContents<T> where T : ContentRef
{
    private readonly Lock _lock = new();
    private readonly List<T> _written = [];

    /// <summary>Adds a content just written.</summary>
    public void Add(T content)
    {
        lock (_lock)
        {
            _written.Add(content);
        }
    }

    /// <summary>The contents written so far, in order, handed over once (a spool's, when its layer is placed).</summary>
    public List<T> TakeAll()
    {
        lock (_lock)
        {
            var written = new List<T>(_written);
            _written.Clear();
            return written;
        }
    }

    /// <summary>
    /// Releases every content that the final tree does not use (<paramref name="keep"/> says which
    /// it does), whether or not a layer released it, then forgets them all.
    /// </summary>
    public void ReleaseAllBut(Func<T, bool> keep, Action<T> release)
    {
        foreach (var content in TakeAll())
        {
            if (!keep(content))
            {
                release(content);
            }
        }
    }
}
