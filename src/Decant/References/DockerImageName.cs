using System.Text.RegularExpressions;
using Decant.Model;

namespace Decant.References;

/// <summary>
/// A registry image name in its fully qualified form: <c>docker.io/library/busybox:1.36</c>.
/// <see cref="Parse"/> accepts the familiar forms (<c>busybox</c>, <c>user/app:tag</c>,
/// <c>localhost:5000/app@sha256:…</c>) and normalizes them the way Docker does.
/// </summary>
/// <param name="Registry">The registry host (and port), e.g. <c>docker.io</c> or <c>localhost:5000</c>.</param>
/// <param name="Repository">The repository path, e.g. <c>library/busybox</c>.</param>
/// <param name="Tag">The tag, if one was written.</param>
/// <param name="Digest">The digest, if one was written; when both are present the digest wins.</param>
internal sealed partial record DockerImageName(string Registry, string Repository, string? Tag = null, Digest? Digest = null)
{
    /// <summary>The registry a name without a host means (<c>index.docker.io</c> is rewritten to it too); one-component repositories there get <c>library/</c>.</summary>
    public const string DefaultRegistry = "docker.io";
    /// <summary>The tag <see cref="WithDefaultTag"/> adds when a name has neither tag nor digest.</summary>
    public const string DefaultTag = "latest";
    private const int MaxNameLength = 255;

    /// <summary>The fully qualified name, <c>REGISTRY/REPOSITORY[:TAG][@DIGEST]</c>, e.g. <c>docker.io/library/busybox:1.36</c>; no default tag is added.</summary>
    public override string ToString() =>
        Registry + "/" + Repository + (Tag is null ? "" : ":" + Tag) + (Digest is { } d ? "@" + d : "");

    /// <summary>This name with tag <c>latest</c> when it has neither tag nor digest.</summary>
    public DockerImageName WithDefaultTag() => Tag is null && Digest is null ? this with { Tag = DefaultTag } : this;

    /// <summary>Whether <paramref name="value"/> is a valid tag: <c>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}</c>.</summary>
    public static bool IsValidTag(string value) => TagPattern().IsMatch(value);

    /// <summary>Parses and normalizes a name; throws <see cref="DecantErrorKind.Usage"/> naming what was wrong.</summary>
    public static DockerImageName Parse(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        string rest = value;
        Digest? digest = null;
        int at = rest.LastIndexOf('@');
        if (at >= 0)
        {
            if (!Model.Digest.TryParse(rest[(at + 1)..], out var parsed))
            {
                throw Invalid(value, $"\"{rest[(at + 1)..]}\" is not a sha256 or sha512 digest");
            }
            digest = parsed;
            rest = rest[..at];
        }

        string? tag = null;
        int colon = rest.LastIndexOf(':');
        if (colon > rest.LastIndexOf('/'))
        {
            tag = rest[(colon + 1)..];
            rest = rest[..colon];
            if (!IsValidTag(tag))
            {
                throw Invalid(value, $"\"{tag}\" is not a valid tag");
            }
        }

        string registry = DefaultRegistry;
        string repository = rest;
        int slash = rest.IndexOf('/', StringComparison.Ordinal);
        if (slash > 0 && LooksLikeRegistry(rest[..slash]))
        {
            registry = rest[..slash];
            repository = rest[(slash + 1)..];
            if (!RegistryPattern().IsMatch(registry))
            {
                throw Invalid(value, $"\"{registry}\" is not a valid registry host[:port]");
            }
        }
        if (registry == "index.docker.io")
        {
            registry = DefaultRegistry;
        }
        if (registry == DefaultRegistry && !repository.Contains('/', StringComparison.Ordinal))
        {
            repository = "library/" + repository;
        }

        if (repository.Length == 0 || repository.Length > MaxNameLength)
        {
            throw Invalid(value, "the repository name must be 1 to 255 characters");
        }
        foreach (string component in repository.Split('/'))
        {
            if (!ComponentPattern().IsMatch(component))
            {
                throw Invalid(value, $"\"{component}\" is not a valid repository path component (lowercase letters, digits and . _ - separators)");
            }
        }
        return new DockerImageName(registry, repository, tag, digest);
    }

    /// <summary>Docker's rule: the first component is a host when it has a '.' or ':' or is <c>localhost</c>.</summary>
    private static bool LooksLikeRegistry(string component) =>
        component == "localhost" || component.Contains('.', StringComparison.Ordinal) || component.Contains(':', StringComparison.Ordinal);

    private static DecantException Invalid(string value, string reason) =>
        new(DecantErrorKind.Usage, $"invalid image name \"{value}\": {reason}");

    [GeneratedRegex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")]
    private static partial Regex TagPattern();

    [GeneratedRegex(@"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:]+\])(?::[0-9]+)?$")]
    private static partial Regex RegistryPattern();

    [GeneratedRegex("^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")]
    private static partial Regex ComponentPattern();
}
