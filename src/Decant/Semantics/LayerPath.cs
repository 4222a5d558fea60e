using Decant.Model;

namespace Decant.Semantics;

/// <summary>
/// Cleans the names stored in layer tars into root-relative paths. A leading "/" or "./" is
/// dropped, "." components vanish and ".." components are resolved lexically; a name that would
/// climb above the root is refused, never clamped, because no honest image contains one.
/// </summary>
internal static class LayerPath
{
    /// <summary>Returns the cleaned components of <paramref name="name"/>; empty for the root itself.</summary>
    public static string[] Clean(string name)
    {
        if (name.Contains('\0', StringComparison.Ordinal))
        {
            throw new DecantException(DecantErrorKind.UnsafeLayer, "name contains a NUL byte") { Entry = name };
        }
        if (!ArchivePath.TryClean(name, out var components))
        {
            throw new DecantException(DecantErrorKind.UnsafeLayer, "path climbs above the image root") { Entry = name };
        }
        return components;
    }
}
