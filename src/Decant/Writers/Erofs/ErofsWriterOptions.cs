namespace Decant.Writers.Erofs;

/// <summary>How <see cref="ErofsWriter"/> writes an EROFS filesystem image to the file <see cref="WriterOptions.Output"/>.</summary>
public sealed record ErofsWriterOptions : WriterOptions
{
    /// <summary>
    /// Bytes the filesystem UUID is derived from (e.g. the image's manifest digest), so the same input
    /// always gives the same image. Empty means a fixed default (an export sets the manifest digest).
    /// </summary>
    public IReadOnlyList<byte> Seed { get; init; } = [];
}
