using System.CommandLine.Parsing;
using System.Globalization;

namespace Decant.Cli;

/// <summary>A length of time as the command line spells it: a whole number and one unit, <c>45s</c>, <c>90m</c>, <c>12h</c>, <c>30d</c> or <c>2w</c>.</summary>
internal static class Duration
{
    private static readonly (char Unit, TimeSpan Length)[] Units =
    [
        ('s', TimeSpan.FromSeconds(1)),
        ('m', TimeSpan.FromMinutes(1)),
        ('h', TimeSpan.FromHours(1)),
        ('d', TimeSpan.FromDays(1)),
        ('w', TimeSpan.FromDays(7)),
    ];

    /// <summary>The units, for messages: <c>s (seconds), m (minutes), h (hours), d (days) or w (weeks)</c>.</summary>
    public const string UnitsDescription = "s (seconds), m (minutes), h (hours), d (days) or w (weeks)";

    /// <summary>Parses <paramref name="text"/>; false when it is not a whole number (0 allowed) followed by one unit, or is too long for a <see cref="TimeSpan"/>.</summary>
    public static bool TryParse(string text, out TimeSpan duration)
    {
        duration = default;
        if (text.Length < 2)
        {
            return false;
        }
        int unit = Array.FindIndex(Units, u => u.Unit == text[^1]);
        if (unit < 0 || !long.TryParse(text.AsSpan(0, text.Length - 1), NumberStyles.None, CultureInfo.InvariantCulture, out long count)
            || count > TimeSpan.MaxValue.Ticks / Units[unit].Length.Ticks)
        {
            return false;
        }
        duration = TimeSpan.FromTicks(count * Units[unit].Length.Ticks);
        return true;
    }

    /// <summary>
    /// An argument parser for System.CommandLine: a bad duration is a parse error (exit 2, one line),
    /// reported before the command runs.
    /// </summary>
    public static TimeSpan? Parse(ArgumentResult result)
    {
        string text = result.Tokens.Count > 0 ? result.Tokens[^1].Value : "";
        if (TryParse(text, out var duration))
        {
            return duration;
        }
        result.AddError($"invalid duration \"{text}\" for {(result.Parent as OptionResult)?.Option.Name ?? "a duration option"} (expected a whole number and a unit: {UnitsDescription}, such as 30d or 12h)");
        return null;
    }
}
