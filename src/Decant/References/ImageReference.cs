using Decant.Model;

namespace Decant.References;

/// <summary>
/// Where an image lives, spelled the way skopeo and podman spell it: <c>TRANSPORT:DETAILS</c>.
/// Each transport is one sealed record below; <see cref="Parse"/> picks it and
/// <see cref="object.ToString"/> writes it back so that <c>Parse(r.ToString()) == r</c>.
/// </summary>
/// <remarks>
/// Supported spellings:
/// <list type="bullet">
/// <item><c>oci:DIR[:TAG]</c>, <c>oci:DIR@sha256:…</c> — an OCI image layout directory.</item>
/// <item><c>oci-archive:FILE[:TAG]</c>, <c>oci-archive:FILE@sha256:…</c> — a tar of an OCI image layout.</item>
/// <item><c>docker-archive:FILE[:NAME:TAG]</c>, <c>docker-archive:FILE:@N</c> — the <c>docker save</c> format.</item>
/// <item><c>docker://NAME[:TAG][@DIGEST]</c> — a registry.</item>
/// <item><c>containers-storage:NAME</c> — the local podman/buildah store.</item>
/// </list>
/// </remarks>
public abstract record ImageReference
{
    /// <summary>Only the transports in this library derive from this type.</summary>
    private protected ImageReference()
    {
    }

    /// <summary>The transport names this parser understands, as they are written before the first ':'.</summary>
    public static IReadOnlyList<string> SupportedTransports { get; } =
        [OciLayoutReference.TransportName, OciArchiveReference.TransportName, DockerArchiveReference.TransportName,
         RegistryReference.TransportName, ContainersStorageReference.TransportName];

    /// <summary>The transport name, e.g. <c>oci</c> or <c>docker-archive</c>.</summary>
    public abstract string Transport { get; }

    /// <summary>Parses <c>TRANSPORT:DETAILS</c>; throws <see cref="DecantErrorKind.Usage"/> naming what was wrong.</summary>
    public static ImageReference Parse(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        int colon = value.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0)
        {
            throw new DecantException(DecantErrorKind.Usage, $"image reference \"{value}\" has no transport; write TRANSPORT:NAME with one of: {DescribeTransports()}");
        }
        string transport = value[..colon];
        string details = value[(colon + 1)..];
        return transport switch
        {
            OciLayoutReference.TransportName => OciLayoutReference.ParseDetails(details),
            OciArchiveReference.TransportName => OciArchiveReference.ParseDetails(details),
            DockerArchiveReference.TransportName => DockerArchiveReference.ParseDetails(details),
            RegistryReference.TransportName => RegistryReference.ParseDetails(details),
            ContainersStorageReference.TransportName => ContainersStorageReference.ParseDetails(details),
            _ => throw new DecantException(DecantErrorKind.Usage, $"unknown transport \"{transport}\" in \"{value}\"; supported: {DescribeTransports()}"),
        };
    }

    /// <summary>
    /// Parses like <see cref="Parse"/>, and also accepts a bare registry image name the way podman
    /// does (<c>alpine</c>, <c>alpine:3.20</c>, <c>localhost:5000/app@sha256:…</c>) when the text does
    /// not start with a known transport. Text that is neither throws <see cref="DecantErrorKind.Usage"/>.
    /// </summary>
    public static ImageReference ParseWithBareNames(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        int colon = value.IndexOf(':', StringComparison.Ordinal);
        if (colon > 0 && SupportedTransports.Contains(value[..colon]))
        {
            return Parse(value);
        }
        try
        {
            return new RegistryReference(DockerImageName.Parse(value));
        }
        catch (DecantException error) when (error.Kind == DecantErrorKind.Usage)
        {
            throw new DecantException(DecantErrorKind.Usage, $"\"{value}\" is neither TRANSPORT:NAME ({DescribeTransports()}) nor a registry image name: {error.Message}", error);
        }
    }

    private static string DescribeTransports() => "oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE[:NAME:TAG|:@N], docker://NAME[:TAG], containers-storage:NAME";
}
