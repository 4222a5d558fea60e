namespace Decant.Manifests;

/// <summary>The media types Decant understands.</summary>
internal static class MediaTypes
{
    /// <summary>An OCI image index: a list of manifests, usually one per platform.</summary>
    public const string OciIndex = "application/vnd.oci.image.index.v1+json";
    /// <summary>An OCI image manifest: one config and the layers, base first.</summary>
    public const string OciManifest = "application/vnd.oci.image.manifest.v1+json";
    /// <summary>An OCI image config: platform, execution defaults and the layers' diff_ids.</summary>
    public const string OciConfig = "application/vnd.oci.image.config.v1+json";
    /// <summary>An OCI layer as a plain tar. As with every layer type, the compression Decant uses is detected from the blob's bytes.</summary>
    public const string OciLayer = "application/vnd.oci.image.layer.v1.tar";
    /// <summary>An OCI layer as a gzip-compressed tar.</summary>
    public const string OciLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip";
    /// <summary>An OCI layer as a zstd-compressed tar.</summary>
    public const string OciLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd";
    /// <summary>A non-distributable OCI layer as a plain tar (deprecated in image-spec 1.1); often fetched from its descriptor's <c>urls</c>.</summary>
    public const string OciLayerNondistributable = "application/vnd.oci.image.layer.nondistributable.v1.tar";
    /// <summary>A non-distributable OCI layer as a gzip-compressed tar (deprecated in image-spec 1.1).</summary>
    public const string OciLayerNondistributableGzip = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
    /// <summary>A non-distributable OCI layer as a zstd-compressed tar (deprecated in image-spec 1.1).</summary>
    public const string OciLayerNondistributableZstd = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd";
    /// <summary>A Docker manifest list, Docker's counterpart of <see cref="OciIndex"/>.</summary>
    public const string DockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json";
    /// <summary>A Docker image manifest, schema 2, Docker's counterpart of <see cref="OciManifest"/>.</summary>
    public const string DockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
    /// <summary>A Docker image config, read like <see cref="OciConfig"/>.</summary>
    public const string DockerConfig = "application/vnd.docker.container.image.v1+json";
    /// <summary>A Docker layer as a gzip-compressed tar.</summary>
    public const string DockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip";
    /// <summary>A Docker foreign layer (such as a Windows base layer) that registries do not hold; fetched from its descriptor's <c>urls</c>.</summary>
    public const string DockerForeignLayerGzip = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";

    /// <summary>Whether <paramref name="mediaType"/> is an index: <see cref="OciIndex"/> or <see cref="DockerManifestList"/>. Null gives false.</summary>
    public static bool IsIndex(string? mediaType) => mediaType is OciIndex or DockerManifestList;

    /// <summary>Whether <paramref name="mediaType"/> is an image manifest: <see cref="OciManifest"/> or <see cref="DockerManifest"/>. Null gives false.</summary>
    public static bool IsManifest(string? mediaType) => mediaType is OciManifest or DockerManifest;

    /// <summary>Whether <paramref name="mediaType"/> is one of the OCI or Docker layer types above, the only layers Decant unpacks. Null gives false.</summary>
    public static bool IsLayer(string? mediaType) => mediaType is OciLayer or OciLayerGzip or OciLayerZstd
        or OciLayerNondistributable or OciLayerNondistributableGzip or OciLayerNondistributableZstd
        or DockerLayerGzip or DockerForeignLayerGzip;

    /// <summary>The Accept list a client sends when it asks for a manifest.</summary>
    public static readonly IReadOnlyList<string> ManifestAccept = [OciIndex, OciManifest, DockerManifestList, DockerManifest];
}
