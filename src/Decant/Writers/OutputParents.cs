using Decant.Model;

namespace Decant.Writers;

/// <summary>
/// The missing ancestors of an output, created as <c>mkdir -p</c> does (every format creates
/// them), and remembered so that a failed export removes the ones it made again.
/// </summary>
internal sealed class OutputParents
{
    private readonly List<string> _created;

    private OutputParents(List<string> created)
    {
        _created = created;
    }

    /// <summary>Creates <paramref name="directory"/> and whichever of its ancestors are missing.</summary>
    public static OutputParents Create(string directory)
    {
        var missing = new List<string>();
        for (string? path = directory; path is not null && !System.IO.Directory.Exists(path); path = Path.GetDirectoryName(path))
        {
            missing.Add(path);
        }
        missing.Reverse();
        var created = new List<string>(missing.Count);
        var parents = new OutputParents(created);
        try
        {
            foreach (string path in missing)
            {
                System.IO.Directory.CreateDirectory(path);
                created.Add(path);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            parents.Remove();
            throw new DecantException(DecantErrorKind.OutputError, $"cannot create \"{directory}\": {e.Message}", e);
        }
        return parents;
    }

    /// <summary>Removes the directories <see cref="Create"/> made, innermost first, as long as they are still empty.</summary>
    public void Remove()
    {
        for (int i = _created.Count - 1; i >= 0; i--)
        {
            try
            {
                System.IO.Directory.Delete(_created[i], recursive: false);
            }
            catch (DirectoryNotFoundException)
            {
                // Already gone (a writer inside removed what it made): its parents may still be ours to remove.
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return; // not empty any more, or not ours to remove: leave it and its ancestors
            }
        }
        _created.Clear();
    }
}
