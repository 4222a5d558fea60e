using System.Globalization;

namespace Decant.Tests.Support;

/// <summary>One line of GNU tar's verbose listing of an archive.</summary>
/// <param name="Type">The type letter tar prints first: <c>-</c> file, <c>d</c>, <c>l</c> symlink, <c>h</c> hardlink, <c>c</c>, <c>b</c>, <c>p</c> fifo.</param>
/// <param name="Permissions">The nine rwx letters, with s/S/t/T for setuid, setgid and sticky.</param>
/// <param name="HasXattrs">Whether tar marked the entry with <c>*</c> (it carries extended attributes).</param>
/// <param name="Name">The entry name, exactly as stored (literal quoting; a name holding a newline would break the listing).</param>
/// <param name="LinkTarget">The symlink or hardlink target, or null.</param>
public sealed record TarListingEntry(char Type, string Permissions, bool HasXattrs, long Uid, long Gid, string SizeOrDevice, string Name, string? LinkTarget)
{
    /// <summary>The last path component (without a trailing slash).</summary>
    public string BaseName => Name.TrimEnd('/').Split('/')[^1];
}

/// <summary>Lists tar archives (plain, gzip or zstd: tar detects it) with the real GNU tar.</summary>
public static class ToolsTarListing
{
    private const string SymlinkArrow = " -> ";
    private const string HardlinkArrow = " link to ";

    public static async Task<IReadOnlyList<TarListingEntry>> ListAsync(string archive, CancellationToken cancellationToken)
    {
        var result = await Tools.RunCheckedAsync("tar",
            ["--list", "--verbose", "--numeric-owner", "--full-time", "--utc", "--quoting-style=literal",
             "--xattrs", "--xattrs-include=*", "--file", archive],
            cancellationToken).ConfigureAwait(false);
        return [.. result.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => Parse(line, archive))];
    }

    /// <summary>Parses <c>MODE UID/GID SIZE DATE TIME NAME[ -> TARGET | link to TARGET]</c>.</summary>
    private static TarListingEntry Parse(string line, string archive)
    {
        // The size column is right-aligned, so split the fixed columns off one at a time.
        var columns = new List<string>();
        string rest = line;
        for (int i = 0; i < 5; i++)
        {
            rest = rest.TrimStart(' ');
            int space = rest.IndexOf(' ', StringComparison.Ordinal);
            if (space < 0)
            {
                throw new FormatException($"unexpected tar listing line in {archive}: {line}");
            }
            columns.Add(rest[..space]);
            rest = rest[(space + 1)..];
        }
        string mode = columns[0];
        string[] owner = columns[1].Split('/');
        char type = mode[0];
        string? target = null;
        string arrow = type switch { 'l' => SymlinkArrow, 'h' => HardlinkArrow, _ => "" };
        if (arrow.Length > 0)
        {
            int at = rest.IndexOf(arrow, StringComparison.Ordinal);
            if (at < 0)
            {
                throw new FormatException($"link entry without a target in {archive}: {line}");
            }
            target = rest[(at + arrow.Length)..];
            rest = rest[..at];
        }
        return new TarListingEntry(type, mode[1..10], mode.EndsWith('*'),
            long.Parse(owner[0], CultureInfo.InvariantCulture), long.Parse(owner[1], CultureInfo.InvariantCulture),
            columns[2], rest, target);
    }
}
