using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using Decant.Manifests;
using Decant.Model;
using Decant.Sources;
using Decant.Tests.Support;

namespace Decant.Tests.Registry;

/// <summary>
/// A Docker schema2 image whose top layer is a foreign layer (media type
/// <c>…rootfs.foreign.diff.tar.gzip</c> with <c>urls</c>) that the repository does not hold: Decant
/// fetches it from its URL, verifies it, and the tree equals the OCI layout's.
/// </summary>
[Collection(UsesRegistries.Name)]
public sealed class RegistryForeignLayerTests(RegistryFixture registries) : RegistryTest(registries)
{
    [Fact]
    public async Task AForeignLayerComesFromItsUrl()
    {
        using var http = new HttpClient();
        string registry = $"http://{Registries.Anonymous.Host}/v2";
        string repository = "corpus/foreign-" + Guid.NewGuid().ToString("N")[..8];
        var manifest = await GetSchema2ManifestAsync(http, $"{registry}/{RegistryFixture.UmociMultiSchema2}/manifests/latest");
        var layers = manifest["layers"]!.AsArray();
        var foreign = layers[^1]!.AsObject();
        string foreignDigest = foreign["digest"]!.GetValue<string>();
        byte[] foreignBytes = await http.GetByteArrayAsync($"{registry}/{RegistryFixture.UmociMultiSchema2}/blobs/{foreignDigest}", Token);

        await using var server = new BlobServer(foreignBytes);
        foreign["mediaType"] = MediaTypes.DockerForeignLayerGzip;
        foreign["urls"] = new JsonArray("http://127.0.0.1:1/unreachable", server.Url);
        // The repository gets the config and every other layer, but not the foreign one.
        foreach (string digest in layers.SkipLast(1).Select(l => l!["digest"]!.GetValue<string>()).Append(manifest["config"]!["digest"]!.GetValue<string>()))
        {
            using var mount = await http.PostAsync($"{registry}/{repository}/blobs/uploads/?mount={digest}&from={RegistryFixture.UmociMultiSchema2}", null, Token);
            Assert.Equal(HttpStatusCode.Created, mount.StatusCode);
        }
        using var put = new ByteArrayContent(System.Text.Encoding.UTF8.GetBytes(manifest.ToJsonString()));
        put.Headers.ContentType = new MediaTypeHeaderValue(MediaTypes.DockerManifest);
        using (var pushed = await http.PutAsync($"{registry}/{repository}/manifests/latest", put, Token))
        {
            Assert.True(pushed.IsSuccessStatusCode, await pushed.Content.ReadAsStringAsync(Token));
        }
        using (var missing = await http.GetAsync($"{registry}/{repository}/blobs/{foreignDigest}", Token))
        {
            Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        }

        var options = new SourceOptions { MaxRetries = 0 };
        var expected = await RegistryExport.ExportAsync($"oci:{Registries.Images.UmociMulti}:latest", SourceOptions.Default, NewOutput("foreign"), null, Token);
        var actual = await RegistryExport.ExportAsync($"docker://{Registries.Anonymous.Host}/{repository}:latest", options, NewOutput("foreign"), null, Token);
        TreeSnapshotAssert.Equal(expected, actual);
        Assert.Equal(1, server.Requests);

        // Without a working URL the error says both what the registry said and what the URLs did.
        server.Fail = true;
        var error = await Assert.ThrowsAsync<DecantException>(() => RegistryExport.ExportAsync($"docker://{Registries.Anonymous.Host}/{repository}:latest", options, NewOutput("foreign"), null, Token));
        Assert.Equal(DecantErrorKind.NotFound, error.Kind);
        Assert.Contains("blob unknown", error.Message, StringComparison.Ordinal);
        Assert.Contains("its urls failed too", error.Message, StringComparison.Ordinal);
    }

    private async Task<JsonObject> GetSchema2ManifestAsync(HttpClient http, string url)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(MediaTypes.DockerManifest));
        using var response = await http.SendAsync(request, Token);
        response.EnsureSuccessStatusCode();
        return JsonNode.Parse(await response.Content.ReadAsStringAsync(Token))!.AsObject();
    }

    /// <summary>Serves one blob over plain HTTP on 127.0.0.1, or 404 once told to fail.</summary>
    private sealed class BlobServer : IAsyncDisposable
    {
        private readonly HttpListener _listener = new();
        private readonly byte[] _blob;
        private readonly Task _loop;
        private int _requests;

        public BlobServer(byte[] blob)
        {
            _blob = blob;
            int port = RegistryTokenIssuer.FreePort();
            Url = $"http://127.0.0.1:{port}/layers/foreign.tar.gz";
            _listener.Prefixes.Add($"http://127.0.0.1:{port}/");
            _listener.Start();
            _loop = Task.Run(ServeAsync);
        }

        public string Url { get; }

        public bool Fail { get; set; }

        public int Requests => Volatile.Read(ref _requests);

        private async Task ServeAsync()
        {
            while (true)
            {
                try
                {
                    var context = await _listener.GetContextAsync();
                    Interlocked.Increment(ref _requests);
                    if (Fail)
                    {
                        context.Response.StatusCode = 404;
                        context.Response.Close();
                        continue;
                    }
                    context.Response.ContentLength64 = _blob.Length;
                    await context.Response.OutputStream.WriteAsync(_blob);
                    context.Response.Close();
                }
                catch (Exception error) when (error is HttpListenerException or ObjectDisposedException or InvalidOperationException)
                {
                    return;
                }
            }
        }

        public async ValueTask DisposeAsync()
        {
            _listener.Stop();
            _listener.Close();
            await _loop;
        }
    }
}
