using Decant.Model;

namespace Decant.Layers;

/// <summary>The failures <see cref="LayerTarReader"/> reports, each naming where in the archive it happened.</summary>
internal static class TarErrors
{
    public static DecantException Invalid(string message, string? entry = null) =>
        new(DecantErrorKind.InvalidLayer, message) { Entry = entry };

    public static DecantException Truncated(long offset, string what, string? entry = null) =>
        Invalid($"the tar archive is truncated: it ends at byte offset {offset} in the middle of {what}", entry);

    public static DecantException LimitExceeded(string limit, long value, long maximum, string what, long offset, string? entry = null) =>
        new(DecantErrorKind.LimitExceeded,
            $"{what} at byte offset {offset} exceeds the limit {limit} = {maximum} (it has {value})")
        { Entry = entry };
}
