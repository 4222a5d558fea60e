using System.CommandLine.Parsing;
using System.Globalization;

namespace Decant.Cli;

/// <summary>A byte count as the command line spells it: a number with an optional K, M, G or T suffix (powers of 1024).</summary>
internal readonly record struct ByteSize(long Bytes)
{
    private const string Units = "KMGT";

    /// <summary>The count in the largest unit that divides it (64M, 2G), as help shows defaults.</summary>
    public override string ToString()
    {
        long value = Bytes;
        int unit = -1;
        while (unit < Units.Length - 1 && value != 0 && value % 1024 == 0)
        {
            value /= 1024;
            unit++;
        }
        return value.ToString(CultureInfo.InvariantCulture) + (unit < 0 ? "" : Units[unit].ToString());
    }

    /// <summary>Parses <paramref name="text"/>; false when it is not a size of at least <paramref name="minimum"/> bytes.</summary>
    public static bool TryParse(string text, long minimum, out ByteSize size)
    {
        size = default;
        string digits = text.TrimEnd('B', 'b', 'i');
        int shift = 0;
        if (digits.Length > 0 && Units.Contains(char.ToUpperInvariant(digits[^1]), StringComparison.Ordinal))
        {
            shift = 10 * (Units.IndexOf(char.ToUpperInvariant(digits[^1]), StringComparison.Ordinal) + 1);
            digits = digits[..^1];
        }
        if (!long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out long value) || value > (long.MaxValue >> shift) || value << shift < minimum)
        {
            return false;
        }
        size = new ByteSize(value << shift);
        return true;
    }

    /// <summary>
    /// An argument parser for System.CommandLine: a bad size is a parse error (exit 2, one line),
    /// reported before the command runs.
    /// </summary>
    public static Func<ArgumentResult, ByteSize> Parser(long minimum) => result =>
    {
        string text = result.Tokens.Count > 0 ? result.Tokens[^1].Value : "";
        if (TryParse(text, minimum, out var size))
        {
            return size;
        }
        result.AddError($"invalid size \"{text}\" for {(result.Parent as OptionResult)?.Option.Name ?? "a size option"} (expected a number{(minimum > 0 ? "" : " (0 allowed)")} with an optional K, M, G or T suffix)");
        return default;
    };
}
