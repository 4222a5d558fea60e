using Decant.Interop;
using Decant.Tree;

namespace Decant.Writers.Directory;

/// <summary>
/// Keeps the most recently resolved directory open. The tree is walked parents before children and
/// siblings together, so consecutive entries nearly always share a parent and most lookups cost nothing.
/// </summary>
internal sealed class DirectoryHandleCache : IDisposable
{
    private readonly ConfinedRoot _root;
    private TreeNode? _directory;
    private SafeFdHandle? _handle;

    public DirectoryHandleCache(ConfinedRoot root)
    {
        _root = root;
    }

    /// <summary>An O_PATH handle of the tree's <paramref name="directory"/> in the target, valid until the next call.</summary>
    public SafeFdHandle Get(TreeNode directory)
    {
        if (_handle is not null && ReferenceEquals(_directory, directory))
        {
            return _handle;
        }
        _handle?.Dispose();
        _handle = null;
        _handle = _root.OpenDirectory(directory.Path);
        _directory = directory;
        return _handle;
    }

    public void Dispose() => _handle?.Dispose();
}
