using Decant.Writers;

namespace Decant.Tests.Support;

/// <summary>The registered output formats as the tests use them: names for outputs, and the formats to iterate.</summary>
internal static class Formats
{
    /// <summary>Every registered format (<see cref="OutputFormat.All"/>): tables that iterate this cover a new format automatically.</summary>
    public static IEnumerable<OutputFormat> All => OutputFormat.All;

    /// <summary>An output name that implies <paramref name="format"/>: <c>rootfs</c> for a directory, <c>rootfs</c> plus the format's first extension otherwise.</summary>
    public static string OutputName(OutputFormat format) =>
        format.IsDirectory ? "rootfs" : "rootfs" + (format.Extensions.Count > 0 ? format.Extensions[0] : throw new NotSupportedException($"format {format} has no extension to name its output"));
}
