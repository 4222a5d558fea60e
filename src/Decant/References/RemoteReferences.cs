using Decant.Model;

namespace Decant.References;

/// <summary>
/// An image in a registry: <c>docker://NAME[:TAG][@DIGEST]</c>, parsed and normalized here and
/// read by <c>Sources/Registry</c>.
/// </summary>
/// <param name="Image">The normalized image name.</param>
internal sealed record RegistryReference(DockerImageName Image) : ImageReference
{
    /// <summary>The transport prefix, <c>docker</c>; references are written <c>docker://NAME</c>.</summary>
    public const string TransportName = "docker";

    /// <summary>Always <see cref="TransportName"/>.</summary>
    public override string Transport => TransportName;

    /// <summary><c>docker://</c> followed by the fully qualified name, e.g. <c>docker://docker.io/library/alpine:3.20</c>.</summary>
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
