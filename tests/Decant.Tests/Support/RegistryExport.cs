using Decant.Blobs;
using Decant.Layers;
using Decant.Manifests;
using Decant.References;
using Decant.Semantics;
using Decant.Sources;
using Decant.Writers;
using Decant.Writers.Directory;

namespace Decant.Tests.Support;

/// <summary>
/// The export pipeline (source → <see cref="ImageResolver"/> → verified layers →
/// <see cref="LayerIndexer"/> → <see cref="LayerApplier"/> → <see cref="DirectoryWriter"/>), with
/// <see cref="SourceOptions"/> that <c>ImageExporter</c> does not take yet. Layers are read one at a
/// time; on failure the writer removes its output.
/// </summary>
public static class RegistryExport
{
    /// <summary>Exports <paramref name="reference"/> (any transport, or a bare registry name) into <paramref name="output"/> (which must not exist) and snapshots it.</summary>
    public static async Task<TreeSnapshot> ExportAsync(string reference, SourceOptions options, string output, Platform? platform, CancellationToken cancellationToken)
    {
        await using var source = await ImageSources.OpenAsync(ImageReference.ParseWithBareNames(reference), options, cancellationToken);
        var image = await ImageResolver.ResolveAsync(source, platform, cancellationToken);
        await using (var writer = await DirectoryWriter.CreateAsync(new DirectoryWriterOptions { Target = output, Ownership = OwnershipMode.Preserve }, cancellationToken))
        {
            var applier = new LayerApplier(writer.Content, XattrPolicy.ForCurrentUser());
            var budget = new UnpackBudget(1L << 32);
            for (int i = 0; i < image.Layers.Count; i++)
            {
                var layer = image.Layers[i];
                var raw = await source.OpenBlobAsync(layer, cancellationToken);
                await using var verified = new VerifyingStream(raw, layer);
                var index = await LayerIndexer.IndexAsync(layer.Digest, verified, image.DiffIds[i].ToString(), writer.Content, budget, new TarReaderLimits(), cancellationToken);
                await applier.ApplyAsync(index, cancellationToken);
            }
            await writer.CommitAsync(applier.Tree, cancellationToken);
        }
        return await TreeSnapshot.CaptureAsync(output, cancellationToken: cancellationToken);
    }
}
