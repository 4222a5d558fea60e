namespace Decant.Model;

/// <summary>
/// The one lexical cleaning of names stored in archives (layer tars, docker-archive and oci-archive
/// files): empty and <c>.</c> components vanish (so a leading <c>/</c> or <c>./</c> does too), and
/// <c>..</c> removes the component before it. Callers decide what is unacceptable; this only says
/// whether a name climbs above the archive's root.
/// </summary>
internal static class ArchivePath
{
    /// <summary>The cleaned components of <paramref name="name"/> (empty for the root itself); false if a <c>..</c> would climb above the root.</summary>
    public static bool TryClean(string name, out string[] components)
    {
        var parts = new List<string>();
        foreach (var part in name.Split('/'))
        {
            switch (part)
            {
                case "" or ".":
                    continue;
                case "..":
                    if (parts.Count == 0)
                    {
                        components = [];
                        return false;
                    }
                    parts.RemoveAt(parts.Count - 1);
                    continue;
                default:
                    parts.Add(part);
                    continue;
            }
        }
        components = [.. parts];
        return true;
    }
}
