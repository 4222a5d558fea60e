using Decant.Manifests;
using Decant.Model;
using Decant.References;

namespace Decant.Sources.OciLayout;

/// <summary>
/// An image in an OCI image layout (a directory, or — through <see cref="Sources.OciArchive.OciArchiveSource"/>
/// — a tar of one). The root descriptor is chosen from index.json at open: by the
/// <c>org.opencontainers.image.ref.name</c> annotation, by digest (from index.json, or any blob in
/// blobs/), or as the only entry. Blobs live at <c>blobs/ALG/HEX</c>.
/// </summary>
internal sealed class OciLayoutSource : IImageSource
{
    private readonly ILayoutStorage _storage;
    private readonly Descriptor _root;

    private OciLayoutSource(string name, ILayoutStorage storage, Descriptor root)
    {
        Name = name;
        _storage = storage;
        _root = root;
    }

    public string Name { get; }

    /// <summary>Opens the layout directory a reference names.</summary>
    public static async Task<IImageSource> OpenAsync(OciLayoutReference reference, CancellationToken cancellationToken)
    {
        string name = reference.ToString();
        if (!Directory.Exists(reference.Path))
        {
            throw new DecantException(DecantErrorKind.NotFound, $"{name}: directory \"{reference.Path}\" does not exist");
        }
        return await OpenAsync(name, new DirectoryLayoutStorage(reference.Path), reference.Tag, reference.Digest, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Opens a layout kept in <paramref name="storage"/>; the source takes ownership of it.</summary>
    public static async Task<IImageSource> OpenAsync(string name, ILayoutStorage storage, string? tag, Digest? digest, CancellationToken cancellationToken)
    {
        try
        {
            var index = await OciLayoutIndex.ReadAsync(name, storage, cancellationToken).ConfigureAwait(false);
            var root = digest is { } wanted
                ? await SelectByDigestAsync(index, storage, wanted, cancellationToken).ConfigureAwait(false)
                : index.SelectByTag(tag);
            return new OciLayoutSource(name, storage, root);
        }
        catch
        {
            await storage.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public ValueTask<Descriptor> ResolveRootAsync(CancellationToken cancellationToken) => ValueTask.FromResult(_root);

    public async ValueTask<Stream> OpenBlobAsync(Descriptor descriptor, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(descriptor);
        var digest = descriptor.ParsedDigest;
        return await _storage.TryOpenAsync(BlobPath(digest), cancellationToken).ConfigureAwait(false)
            ?? throw MissingBlob(digest);
    }

    public ValueTask DisposeAsync() => _storage.DisposeAsync();

    private static async Task<Descriptor> SelectByDigestAsync(OciLayoutIndex index, ILayoutStorage storage, Digest digest, CancellationToken cancellationToken)
    {
        if (index.FindByDigest(digest) is { } listed)
        {
            return listed;
        }
        // Not listed in index.json: any blob may be named, e.g. one platform's manifest of a
        // multi-platform index. Its media type is left for the resolver to read from the blob.
        long size = await storage.TryGetLengthAsync(BlobPath(digest), cancellationToken).ConfigureAwait(false)
            ?? throw new DecantException(DecantErrorKind.NotFound, $"{index.Name}: no manifest or blob {digest} (not in index.json, no {BlobPath(digest)})");
        return new Descriptor { Digest = digest.ToString(), Size = size };
    }

    private DecantException MissingBlob(Digest digest) =>
        new(DecantErrorKind.NotFound, $"{Name}: blob {digest} is missing (no {BlobPath(digest)})");

    internal static string BlobPath(Digest digest) => $"blobs/{digest.Algorithm}/{digest.Hex}";
}
