using Decant.Export;
using Decant.Manifests;
using Decant.Sources;
using Decant.Writers;

namespace Decant.Tests.Support;

/// <summary>
/// The registry tests' export: the library's own pipeline (<see cref="ImageExporter"/>, with its
/// concurrent reads, read-ahead window and default xattr rules) into a directory with exact owners,
/// then a snapshot of what it wrote.
/// </summary>
public static class RegistryExport
{
    /// <summary>Exports <paramref name="reference"/> (any transport, or a bare registry name) into <paramref name="output"/> (which must not exist) and snapshots it.</summary>
    public static async Task<TreeSnapshot> ExportAsync(string reference, SourceOptions options, string output, Platform? platform, CancellationToken cancellationToken)
    {
        var exportOptions = new ExportOptions { Output = output, Format = OutputFormat.Directory, Source = options, Platform = platform, Ownership = OwnershipMode.Preserve };
        await ImageExporter.ExportAsync(reference, exportOptions, cancellationToken: cancellationToken);
        return await TreeSnapshot.CaptureAsync(output, cancellationToken: cancellationToken);
    }
}
