using Decant.Export;
using Decant.Tests.Support;
using Decant.Writers;

namespace Decant.Tests.Differential;

/// <summary>Runs Decant's whole pipeline in-process (as the test's own user, root) and snapshots what it wrote.</summary>
internal static class DecantRuns
{
    /// <summary>Exports <paramref name="reference"/> to a new directory with exact owners and returns its snapshot.</summary>
    public static async Task<TreeSnapshot> ExportDirectoryAsync(RealImages images, string reference, CancellationToken cancellationToken)
    {
        string output = Path.Combine(images.NewScratchDirectory("decant-dir"), "rootfs");
        await ImageExporter.ExportAsync(reference, Options(output, OutputFormat.Directory), cancellationToken: cancellationToken);
        return await TreeSnapshot.CaptureAsync(output, cancellationToken: cancellationToken);
    }

    /// <summary>Exports <paramref name="reference"/> as one flattened tar and returns the tar's path.</summary>
    public static async Task<string> ExportTarAsync(RealImages images, string reference, CancellationToken cancellationToken)
    {
        string output = Path.Combine(images.NewScratchDirectory("decant-tar"), "rootfs.tar");
        await ImageExporter.ExportAsync(reference, Options(output, OutputFormat.Tar), cancellationToken: cancellationToken);
        return output;
    }

    /// <summary><c>umoci unpack</c> (as root) of a tagged OCI layout, snapshotted.</summary>
    public static async Task<TreeSnapshot> UmociUnpackAsync(RealImages images, string layout, string tag, CancellationToken cancellationToken)
    {
        string bundle = Path.Combine(images.NewScratchDirectory("umoci"), "bundle");
        string rootfs = await RealImages.UmociUnpackAsync(layout, tag, bundle, rootless: false, cancellationToken);
        return await TreeSnapshot.CaptureAsync(rootfs, cancellationToken: cancellationToken);
    }

    private static ExportOptions Options(string output, OutputFormat format) => new()
    {
        Output = output,
        Format = format,
        Ownership = OwnershipMode.Preserve,
        Jobs = 2,
    };
}
