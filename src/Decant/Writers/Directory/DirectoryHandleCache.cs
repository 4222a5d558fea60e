using Decant.Interop;

namespace Decant.Writers.Directory;

/// <summary>
/// Keeps the most recently resolved directory open. The tree is walked parents before children and
/// siblings together, so consecutive entries nearly always share a parent and most lookups cost nothing.
/// </summary>
internal sealed class DirectoryHandleCache : IDisposable
{
    private readonly ConfinedRoot _root;
    private string? _path;
    private SafeFdHandle? _handle;

    public DirectoryHandleCache(ConfinedRoot root)
    {
        _root = root;
    }

    /// <summary>An O_PATH handle of the directory at <paramref name="relativePath"/>, valid until the next call.</summary>
    public SafeFdHandle Get(string relativePath)
    {
        if (_handle is not null && _path == relativePath)
        {
            return _handle;
        }
        _handle?.Dispose();
        _handle = null;
        _handle = _root.OpenDirectory(relativePath);
        _path = relativePath;
        return _handle;
    }

    public void Dispose() => _handle?.Dispose();
}
