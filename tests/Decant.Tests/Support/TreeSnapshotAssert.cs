using Xunit.Sdk;

namespace Decant.Tests.Support;

/// <summary>Assertions over <see cref="TreeSnapshot"/>s that print every difference when they fail.</summary>
public static class TreeSnapshotAssert
{
    /// <summary>Fails, listing each difference, unless the two trees match under <paramref name="options"/>.</summary>
    public static void Equal(TreeSnapshot expected, TreeSnapshot actual, SnapshotCompareOptions? options = null)
    {
        var differences = TreeSnapshot.Diff(expected, actual, options);
        if (differences.Count > 0)
        {
            const int shown = 200;
            throw new XunitException(
                $"The trees differ in {differences.Count} place(s) (a = {expected.Root}, b = {actual.Root}"
                + (options is null ? "" : $", ignoring {options}") + "):\n"
                + string.Join('\n', differences.Take(shown))
                + (differences.Count > shown ? $"\n… and {differences.Count - shown} more" : ""));
        }
    }
}
