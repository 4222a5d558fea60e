using System.Collections.Concurrent;
using System.Net;
using Decant.Manifests;
using Decant.Model;
using Decant.References;

namespace Decant.Sources.Registry;

/// <summary>
/// An image in a registry (<c>docker://NAME[:TAG][@DIGEST]</c>, or a bare name), read over the OCI
/// distribution API. The root manifest is resolved with HEAD then GET and the explicit Accept list;
/// its digest is the hash of the bytes received (checked against the reference's digest when there
/// is one), never the registry's <c>Docker-Content-Digest</c>. Manifests are served from the
/// manifests endpoint (the root's bytes are cached); configs and layers stream from the blobs
/// endpoint and resume after interruptions. Mirrors are tried before the registry itself; a layer
/// the registries lack is fetched from its descriptor's <c>urls</c> (foreign layers).
/// </summary>
internal sealed class RegistrySource : IImageSource
{
    private readonly RegistryReference _reference;
    private readonly RegistryHttp _http;
    private readonly IReadOnlyList<RegistryClient> _clients;
    private readonly ConcurrentDictionary<string, byte[]> _manifests = new(StringComparer.Ordinal);

    private RegistrySource(RegistryReference reference, RegistryHttp http, IReadOnlyList<RegistryClient> clients)
    {
        _reference = reference;
        _http = http;
        _clients = clients;
    }

    public string Name => _reference.ToString();

    /// <summary>Plans the endpoints (mirrors, then the registry) for a reference; nothing is contacted yet.</summary>
    public static async Task<IImageSource> OpenAsync(RegistryReference reference, SourceOptions options, CancellationToken cancellationToken)
    {
        var conf = options.RegistriesConf is { } path
            ? await RegistriesConf.ReadAsync(path, cancellationToken).ConfigureAwait(false)
            : [];
        var endpoints = RegistryEndpoint.Plan(reference.Image, options, conf);
        var http = new RegistryHttp(options, endpoints);
        var credentials = new CredentialSearch(options);
        return new RegistrySource(reference, http, [.. endpoints.Select(e => new RegistryClient(http, e, credentials))]);
    }

    public async ValueTask<Descriptor> ResolveRootAsync(CancellationToken cancellationToken)
    {
        var image = _reference.Image.WithDefaultTag();
        string reference = image.Digest?.ToString() ?? image.Tag!;
        return await FirstEndpointAsync(async client =>
        {
            var (bytes, mediaType) = await FetchManifestAsync(client, reference, image.Digest, headFirst: image.Digest is null, cancellationToken).ConfigureAwait(false);
            var digest = image.Digest ?? Digest.Sha256Of(bytes);
            _manifests[digest.ToString()] = bytes;
            return new Descriptor { MediaType = mediaType, Digest = digest.ToString(), Size = bytes.Length };
        }).ConfigureAwait(false);
    }

    public async ValueTask<Stream> OpenBlobAsync(Descriptor descriptor, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(descriptor);
        var digest = descriptor.ParsedDigest;
        if (_manifests.TryGetValue(digest.ToString(), out byte[]? cached))
        {
            return new MemoryStream(cached, writable: false);
        }
        if (MediaTypes.IsIndex(descriptor.MediaType) || MediaTypes.IsManifest(descriptor.MediaType))
        {
            byte[] bytes = await FirstEndpointAsync(async client =>
                (await FetchManifestAsync(client, digest.ToString(), digest, headFirst: false, cancellationToken).ConfigureAwait(false)).Bytes).ConfigureAwait(false);
            _manifests[digest.ToString()] = bytes;
            return new MemoryStream(bytes, writable: false);
        }
        try
        {
            return await FirstEndpointAsync(client => OpenRegistryBlobAsync(client, descriptor, cancellationToken)).ConfigureAwait(false);
        }
        catch (DecantException error) when (error.Kind == DecantErrorKind.NotFound && descriptor.Urls is { Count: > 0 } urls)
        {
            return await ForeignLayer.OpenAsync(_http, descriptor, urls, error, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Runs <paramref name="action"/> on each endpoint in order until one succeeds; the registry's own error wins.</summary>
    private async Task<T> FirstEndpointAsync<T>(Func<RegistryClient, Task<T>> action)
    {
        for (int i = 0; ; i++)
        {
            try
            {
                return await action(_clients[i]).ConfigureAwait(false);
            }
            catch (DecantException error) when (i < _clients.Count - 1 && error.Kind != DecantErrorKind.Usage)
            {
                // A mirror that fails (missing image, refusal, network) just passes the turn on.
            }
        }
    }

    private async Task<(byte[] Bytes, string MediaType)> FetchManifestAsync(RegistryClient client, string reference, Digest? expected, bool headFirst, CancellationToken cancellationToken)
    {
        string what = $"{Name}: {client.Endpoint}: manifest {reference}";
        string path = "manifests/" + reference;
        if (headFirst)
        {
            using var head = await client.SendAsync(HttpMethod.Head, path, RegistryClient.AcceptManifests, what, cancellationToken).ConfigureAwait(false);
            if (head.IsSuccessStatusCode)
            {
                CheckManifestSize(head, what);
            }
            // 404 and 405 (HEAD unsupported) fall through to GET, which says why with a body.
        }
        return await _http.RetryAsync(what, async ct =>
        {
            using var response = await client.SendAsync(HttpMethod.Get, path, RegistryClient.AcceptManifests, what, ct).ConfigureAwait(false);
            if (response.StatusCode == HttpStatusCode.NotFound)
            {
                throw await client.NotFoundAsync(response, what, ct).ConfigureAwait(false);
            }
            if (response.StatusCode != HttpStatusCode.OK)
            {
                throw await RegistryClient.UnexpectedAsync(response, what, ct).ConfigureAwait(false);
            }
            CheckManifestSize(response, what);
            byte[] bytes = await ReadBodyAsync(response, what, ct).ConfigureAwait(false);
            if (expected is { } digest && !digest.Matches(bytes))
            {
                throw new DecantException(DecantErrorKind.DigestMismatch, $"{what}: digest mismatch: the manifest received hashes to {Digest.FromHash(digest.Algorithm, Hash(digest, bytes))}");
            }
            string? contentType = response.Content.Headers.ContentType?.MediaType;
            string mediaType = MediaTypes.IsIndex(contentType) || MediaTypes.IsManifest(contentType) ? contentType! : "";
            return (bytes, mediaType);
        }, cancellationToken).ConfigureAwait(false);
    }

    private static byte[] Hash(Digest digest, byte[] bytes)
    {
        using var hash = digest.CreateHash();
        hash.AppendData(bytes);
        return hash.GetHashAndReset();
    }

    private static void CheckManifestSize(HttpResponseMessage response, string what)
    {
        if (response.Content.Headers.ContentLength is > SmallJson.MaxDocumentSize and var length)
        {
            throw SmallJson.TooLarge($"{what} ({length} bytes)", SmallJson.MaxDocumentSize);
        }
    }

    /// <summary>Reads a manifest body, capped, within the stall timeout per read; a stall is transient.</summary>
    private async Task<byte[]> ReadBodyAsync(HttpResponseMessage response, string what, CancellationToken cancellationToken)
    {
        using var stall = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        stall.CancelAfter(_http.Options.StallTimeout + _http.Options.RequestTimeout);
        try
        {
            var stream = await response.Content.ReadAsStreamAsync(stall.Token).ConfigureAwait(false);
            await using (stream.ConfigureAwait(false))
            {
                return await SmallJson.ReadCappedAsync(stream, SmallJson.MaxDocumentSize, what, stall.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TransientFailure($"{what}: the body did not arrive in time (stalled)");
        }
    }

    private async Task<Stream> OpenRegistryBlobAsync(RegistryClient client, Descriptor descriptor, CancellationToken cancellationToken)
    {
        string what = $"{Name}: {client.Endpoint}: blob {descriptor.Digest}";
        string path = "blobs/" + descriptor.Digest;
        return await ResumableBlobStream.OpenAsync(async (offset, ct) =>
        {
            var response = await client.SendAsync(HttpMethod.Get, path, offset > 0 ? request => request.Headers.Range = new(offset, null) : null, what, ct).ConfigureAwait(false);
            if (response.StatusCode == HttpStatusCode.NotFound)
            {
                using (response)
                {
                    throw await client.NotFoundAsync(response, what, ct).ConfigureAwait(false);
                }
            }
            return response;
        }, _http, what, descriptor.Size, cancellationToken).ConfigureAwait(false);
    }

    public ValueTask DisposeAsync()
    {
        foreach (var client in _clients)
        {
            client.Dispose();
        }
        _http.Dispose();
        return ValueTask.CompletedTask;
    }
}
