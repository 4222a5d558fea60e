namespace Decant.Model;

/// <summary>
/// The names closest to one a user wrote, for "did you mean" in messages: by edit distance (case
/// folded), a name that contains the text or is contained in it counting as close.
/// </summary>
internal static class CloseMatches
{
    /// <summary>Up to <paramref name="count"/> of <paramref name="candidates"/> closest to <paramref name="text"/>, closest first; only those within a third of the longer length (and always those that contain the text).</summary>
    public static IReadOnlyList<string> Find(string text, IEnumerable<string> candidates, int count = 5)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(candidates);
        string folded = text.ToLowerInvariant();
        return [.. candidates
            .Distinct(StringComparer.Ordinal)
            .Select(candidate => (Candidate: candidate, Distance: Distance(folded, candidate.ToLowerInvariant())))
            .Where(match => match.Distance <= Math.Max(2, Math.Max(text.Length, match.Candidate.Length) / 3))
            .OrderBy(match => match.Distance)
            .ThenBy(match => match.Candidate, StringComparer.Ordinal)
            .Take(count)
            .Select(match => match.Candidate)];
    }

    /// <summary>The Levenshtein distance, with containment (either way) counted as distance 1.</summary>
    private static int Distance(string a, string b)
    {
        if (a.Length > 0 && b.Length > 0 && (a.Contains(b, StringComparison.Ordinal) || b.Contains(a, StringComparison.Ordinal)))
        {
            return a == b ? 0 : 1;
        }
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++)
        {
            previous[j] = j;
        }
        for (int i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (int j = 1; j <= b.Length; j++)
            {
                int substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
                current[j] = Math.Min(substitution, Math.Min(previous[j], current[j - 1]) + 1);
            }
            (previous, current) = (current, previous);
        }
        return previous[b.Length];
    }
}
