using Decant.Manifests;

namespace Decant.Sources;

/// <summary>
/// Where an image's manifests and blobs come from: an OCI layout, an archive, a registry…
/// Every transport yields this one small abstraction; everything downstream depends only on it.
/// Sources return raw bytes; verification against digests happens in one place downstream
/// (<c>Blobs.VerifyingStream</c> and <c>Manifests.ImageResolver</c>).
/// </summary>
public interface IImageSource : IAsyncDisposable
{
    /// <summary>The reference this source was opened from, for messages.</summary>
    string Name { get; }

    /// <summary>
    /// The descriptor of the manifest or index the reference names (from index.json, a tag,
    /// manifest.json…). Its digest and size are what the root manifest is verified against.
    /// </summary>
    ValueTask<Descriptor> ResolveRootAsync(CancellationToken cancellationToken);

    /// <summary>Opens a blob (manifest, config or layer) by descriptor. The stream is not yet verified.</summary>
    ValueTask<Stream> OpenBlobAsync(Descriptor descriptor, CancellationToken cancellationToken);

    /// <summary>
    /// False for a blob the source cannot serve byte for byte, only as content equal to it (a
    /// containers-storage layer whose tar-split record is missing, rebuilt from its files): its
    /// digest is not checked, and it is never kept in the layer cache under that digest. True for
    /// every blob of every other source.
    /// </summary>
    bool CanVerify(Descriptor descriptor) => true;
}
