using System.Net;
using Decant.Manifests;
using Decant.Model;

namespace Decant.Sources.Registry;

/// <summary>
/// A layer the registry does not hold, fetched from the <c>urls</c> of its descriptor (Windows base
/// layers, non-distributable layers). URLs are tried in order; only https is used unless the URL's
/// host is insecure (loopback or named insecure). No registry credentials are ever sent.
/// </summary>
internal static class ForeignLayer
{
    public static async Task<Stream> OpenAsync(RegistryHttp http, Descriptor descriptor, IReadOnlyList<string> urls, DecantException registryError, CancellationToken cancellationToken)
    {
        var failures = new List<string>();
        foreach (string url in urls)
        {
            if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttps && uri.Scheme != Uri.UriSchemeHttp))
            {
                failures.Add($"\"{url}\" is not an http(s) URL");
                continue;
            }
            string what = $"foreign layer {descriptor.Digest} from {RegistryHttp.Describe(uri)}";
            try
            {
                http.CheckScheme(uri, "foreign layer URL");
                return await ResumableBlobStream.OpenAsync(async (offset, ct) => await http.RetryAsync(what, async attempt =>
                {
                    var response = await http.SendFollowingRedirectsAsync(HttpMethod.Get, uri, (request, _) =>
                    {
                        if (offset > 0)
                        {
                            request.Headers.Range = new(offset, null);
                        }
                        return Task.CompletedTask;
                    }, attempt).ConfigureAwait(false);
                    TransientFailure.ThrowIfTransient(response, what);
                    if (response.StatusCode == HttpStatusCode.NotFound)
                    {
                        response.Dispose();
                        throw new DecantException(DecantErrorKind.NotFound, $"{what}: not found (404)");
                    }
                    return response;
                }, ct).ConfigureAwait(false), http, what, descriptor.Size, cancellationToken).ConfigureAwait(false);
            }
            catch (DecantException error) when (error.Kind is not DecantErrorKind.Usage)
            {
                failures.Add(error.Message);
            }
        }
        throw new DecantException(DecantErrorKind.NotFound, $"{registryError.Message}; its urls failed too: {string.Join("; ", failures)}", registryError);
    }
}
