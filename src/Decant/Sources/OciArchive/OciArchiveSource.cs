using Decant.References;
using Decant.Sources.Archive;
using Decant.Sources.OciLayout;

namespace Decant.Sources.OciArchive;

/// <summary>
/// An image in an oci-archive: a plain tar of an OCI image layout. Nothing is extracted: the tar's
/// headers are indexed once and index.json and the blobs are read in place as windows of the
/// file, so opening costs one pass over a few headers whatever the image's size.
/// </summary>
internal static class OciArchiveSource
{
    /// <summary>Opens the archive a reference names.</summary>
    public static async Task<IImageSource> OpenAsync(OciArchiveReference reference, CancellationToken cancellationToken)
    {
        string name = reference.ToString();
        var archive = await TarFileIndex.OpenAsync(reference.Path, name, cancellationToken).ConfigureAwait(false);
        return await OciLayoutSource.OpenAsync(name, new TarLayoutStorage(archive), reference.Tag, reference.Digest, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The layout's files as entries of the tar.</summary>
    private sealed class TarLayoutStorage(TarFileIndex archive) : ILayoutStorage
    {
        public ValueTask<long?> TryGetLengthAsync(string path, CancellationToken cancellationToken) =>
            ValueTask.FromResult(archive.Find(path)?.Length);

        public ValueTask<Stream?> TryOpenAsync(string path, CancellationToken cancellationToken) =>
            ValueTask.FromResult(archive.Find(path) is { } entry ? archive.Open(entry) : null);

        public ValueTask DisposeAsync() => archive.DisposeAsync();
    }
}
