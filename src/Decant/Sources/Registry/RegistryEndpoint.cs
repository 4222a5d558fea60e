using System.Net;
using Decant.Model;
using Decant.References;

namespace Decant.Sources.Registry;

/// <summary>
/// One place an image can be pulled from: the image's own registry or a mirror, with the
/// repository path there and whether plain HTTP and unverified TLS are allowed.
/// </summary>
/// <param name="Registry">The registry as image names write it (<c>docker.io</c>, <c>localhost:5000</c>).</param>
/// <param name="Repository">The repository on that registry.</param>
/// <param name="Insecure">Plain HTTP and unverified TLS allowed (loopback, named insecure, tls-verify=false).</param>
/// <param name="IsMirror">A mirror: tried first, never given the primary's explicit credentials.</param>
internal sealed record RegistryEndpoint(string Registry, string Repository, bool Insecure, bool IsMirror)
{
    /// <summary>The host[:port] to connect to: Docker Hub is served by <c>registry-1.docker.io</c>.</summary>
    public string NetworkHost => Registry == DockerImageName.DefaultRegistry ? "registry-1.docker.io" : Registry;

    public override string ToString() => (IsMirror ? "mirror " : "registry ") + Registry;

    /// <summary>
    /// The endpoints to try for <paramref name="image"/>, mirrors first: those of the most specific
    /// matching registries.conf prefix (the longest, a wildcard counting as written), then
    /// <see cref="SourceOptions.Mirrors"/>, then the registry itself (possibly relocated by
    /// registries.conf; a wildcard entry without a location leaves it as it is).
    /// </summary>
    public static IReadOnlyList<RegistryEndpoint> Plan(DockerImageName image, SourceOptions options, IReadOnlyList<RegistryConf> registriesConf)
    {
        string fullName = image.Registry + "/" + image.Repository;
        // The longest prefix wins; on a tie (a wildcard and a name of the same length) the one
        // first in ordinal order, as containers/image keeps its entries sorted by prefix.
        var conf = registriesConf
            .Where(r => r.MatchLength(fullName) >= 0)
            .OrderByDescending(r => r.Prefix.Length)
            .ThenBy(r => r.Prefix, StringComparer.Ordinal)
            .FirstOrDefault();
        if (conf is { Blocked: true })
        {
            throw new DecantException(DecantErrorKind.Denied, $"{image}: registries.conf blocks pulls from \"{conf.Prefix}\"");
        }
        string rest = conf is null ? image.Repository : fullName[conf.MatchLength(fullName)..].TrimStart('/');
        var endpoints = new List<RegistryEndpoint>();
        bool mirrorsAllowed = conf is not { MirrorByDigestOnly: true } || image.Digest is not null;
        if (conf is not null && mirrorsAllowed)
        {
            endpoints.AddRange(conf.Mirrors.Select(m => At(m.Location, rest, m.Insecure, isMirror: true, options)));
        }
        endpoints.AddRange(options.Mirrors.Select(m => At(m, image.Repository, insecure: false, isMirror: true, options)));
        endpoints.Add(conf is null || conf.Location.Length == 0
            ? new RegistryEndpoint(image.Registry, image.Repository, IsInsecure(image.Registry, conf?.Insecure ?? false, options), IsMirror: false)
            : At(conf.Location, rest, conf.Insecure, isMirror: false, options));
        return endpoints;
    }

    /// <summary>An endpoint at <c>host[:port][/path]</c>, the repository appended to the path.</summary>
    private static RegistryEndpoint At(string location, string repository, bool insecure, bool isMirror, SourceOptions options)
    {
        string trimmed = location.Trim().TrimEnd('/');
        int slash = trimmed.IndexOf('/', StringComparison.Ordinal);
        string host = slash < 0 ? trimmed : trimmed[..slash];
        string path = slash < 0 ? "" : trimmed[(slash + 1)..];
        if (host.Length == 0)
        {
            throw new DecantException(DecantErrorKind.Usage, $"mirror or registry location \"{location}\" names no host");
        }
        string fullRepository = path.Length == 0 ? repository : path + "/" + repository;
        return new RegistryEndpoint(host, fullRepository, IsInsecure(host, insecure, options), isMirror);
    }

    private static bool IsInsecure(string registry, bool configured, SourceOptions options) =>
        configured || options.TlsVerify == false || IsLoopback(registry)
        || options.InsecureRegistries.Any(r => r == registry || r == HostOf(registry));

    /// <summary>Whether a host[:port] is <c>localhost</c>, in 127.0.0.0/8, or <c>::1</c>.</summary>
    public static bool IsLoopback(string hostAndPort)
    {
        string host = HostOf(hostAndPort).Trim('[', ']');
        return host.Equals("localhost", StringComparison.OrdinalIgnoreCase)
            || (IPAddress.TryParse(host, out var address) && IPAddress.IsLoopback(address));
    }

    /// <summary>The host part of host[:port], IPv6 brackets kept.</summary>
    public static string HostOf(string hostAndPort)
    {
        if (hostAndPort.StartsWith('['))
        {
            int close = hostAndPort.IndexOf(']', StringComparison.Ordinal);
            return close < 0 ? hostAndPort : hostAndPort[..(close + 1)];
        }
        int colon = hostAndPort.LastIndexOf(':');
        return colon < 0 || hostAndPort.IndexOf(':', StringComparison.Ordinal) != colon ? hostAndPort : hostAndPort[..colon];
    }
}
