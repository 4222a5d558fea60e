using System.Text;
using System.Text.RegularExpressions;

namespace Decant.Tests.Support;

/// <summary>The fields of a <see cref="TreeSnapshotEntry"/> a comparison can ignore.</summary>
[Flags]
public enum SnapshotField
{
    None = 0,
    /// <summary>Whether the path exists on both sides at all.</summary>
    Presence = 1 << 0,
    Type = 1 << 1,
    Mode = 1 << 2,
    Uid = 1 << 3,
    Gid = 1 << 4,
    Size = 1 << 5,
    Content = 1 << 6,
    SymlinkTarget = 1 << 7,
    Device = 1 << 8,
    Xattrs = 1 << 9,
    Mtime = 1 << 10,
    Hardlinks = 1 << 11,
    Owner = Uid | Gid,
    All = Presence | Type | Mode | Owner | Size | Content | SymlinkTarget | Device | Xattrs | Mtime | Hardlinks,
}

/// <summary>
/// What <see cref="TreeSnapshot.Diff"/> may ignore: fields of paths matching a glob, and xattr names.
/// Globs match snapshot paths: <c>*</c> and <c>?</c> stay within one path component, <c>**</c> crosses them
/// (<c>/dev/**</c> matches everything below <c>/dev</c>, <c>/</c> matches only the root).
/// </summary>
public sealed class SnapshotCompareOptions
{
    private readonly List<(string Glob, Regex Pattern, SnapshotField Fields)> rules = [];
    private readonly HashSet<string> ignoredXattrs = new(StringComparer.Ordinal);

    /// <summary>Ignores the given fields of every path that matches <paramref name="pathGlob"/>.</summary>
    public SnapshotCompareOptions Ignore(string pathGlob, SnapshotField fields)
    {
        rules.Add((pathGlob, GlobToRegex(pathGlob), fields));
        return this;
    }

    /// <summary>Leaves the named extended attribute out of every comparison.</summary>
    public SnapshotCompareOptions IgnoreXattr(string name)
    {
        ignoredXattrs.Add(name);
        return this;
    }

    /// <summary>The fields ignored for one path (the union of every matching rule).</summary>
    public SnapshotField IgnoredFields(string path)
    {
        var fields = SnapshotField.None;
        foreach (var rule in rules)
        {
            if (rule.Pattern.IsMatch(path))
            {
                fields |= rule.Fields;
            }
        }
        return fields;
    }

    public bool IsXattrIgnored(string name) => ignoredXattrs.Contains(name);

    private static Regex GlobToRegex(string glob)
    {
        var pattern = new StringBuilder("^");
        for (int i = 0; i < glob.Length; i++)
        {
            char c = glob[i];
            if (c == '*' && i + 1 < glob.Length && glob[i + 1] == '*')
            {
                pattern.Append(".*");
                i++;
            }
            else if (c == '*')
            {
                pattern.Append("[^/]*");
            }
            else if (c == '?')
            {
                pattern.Append("[^/]");
            }
            else
            {
                pattern.Append(Regex.Escape(c.ToString()));
            }
        }
        return new Regex(pattern.Append('$').ToString(), RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));
    }

    public override string ToString() =>
        string.Join("; ", rules.Select(rule => $"{rule.Glob}: {rule.Fields}").Concat(ignoredXattrs.Select(name => "xattr " + name)));
}
