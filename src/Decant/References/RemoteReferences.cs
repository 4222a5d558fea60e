using Decant.Errors;

namespace Decant.References;

/// <summary>
/// An image in a registry: <c>docker://NAME[:TAG][@DIGEST]</c>. Parsed and normalized here; the
/// registry source itself is not implemented yet.
/// </summary>
/// <param name="Image">The normalized image name.</param>
public sealed record RegistryReference(DockerImageName Image) : ImageReference
{
    public const string TransportName = "docker";

    public override string Transport => TransportName;

    public override string ToString() => TransportName + "://" + Image;

    internal static RegistryReference ParseDetails(string details)
    {
        if (!details.StartsWith("//", StringComparison.Ordinal) || details.Length == 2)
        {
            throw new DecantException(DecantErrorKind.Usage, $"\"{TransportName}:{details}\" must be written docker://NAME[:TAG]");
        }
        return new RegistryReference(DockerImageName.Parse(details[2..]));
    }
}

/// <summary>
/// An image in the local containers-storage (podman, buildah): <c>containers-storage:NAME</c>,
/// where NAME is an image name, an id, or skopeo's <c>[DRIVER@ROOT]NAME</c> form, kept verbatim.
/// The source for it is not implemented yet.
/// </summary>
/// <param name="Name">Everything after <c>containers-storage:</c>.</param>
public sealed record ContainersStorageReference(string Name) : ImageReference
{
    public const string TransportName = "containers-storage";

    public override string Transport => TransportName;

    public override string ToString() => TransportName + ":" + Name;

    internal static ContainersStorageReference ParseDetails(string details)
    {
        if (details.Length == 0)
        {
            throw new DecantException(DecantErrorKind.Usage, $"\"{TransportName}:\" names no image; write {TransportName}:NAME");
        }
        return new ContainersStorageReference(details);
    }
}
