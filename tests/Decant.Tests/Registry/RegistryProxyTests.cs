using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Decant.Tests.Support;

namespace Decant.Tests.Registry;

/// <summary>
/// The system proxy settings (<c>HTTP(S)_PROXY</c>, <c>NO_PROXY</c>) are honoured. .NET reads them
/// once per process, so each case runs the real <c>decant</c> CLI in its own process.
/// </summary>
[Collection(UsesRegistries.Name)]
public sealed class RegistryProxyTests(RegistryFixture registries)
{
    private static readonly string Decant = Path.Combine(AppContext.BaseDirectory, "decant.dll");

    [Fact]
    public async Task NoProxyBypassesTheProxyForLoopback()
    {
        await using var proxy = new RefusingProxy();
        var (exitCode, stderr, output) = await RunCliAsync(proxy, noProxy: "127.0.0.1");
        Assert.True(exitCode == 0, stderr);
        Assert.True(File.Exists(Path.Combine(output, "bin", "busybox")));
        Assert.Equal(0, proxy.Connections);
    }

    [Fact]
    public async Task WithoutNoProxyTheProxyIsUsed()
    {
        await using var proxy = new RefusingProxy();
        var (exitCode, stderr, output) = await RunCliAsync(proxy, noProxy: null);
        Assert.NotEqual(0, exitCode);
        Assert.Contains("407", stderr, StringComparison.Ordinal);
        Assert.True(proxy.Connections > 0, "the proxy saw no connection");
        Assert.False(Directory.Exists(output));
    }

    private async Task<(int ExitCode, string StandardError, string Output)> RunCliAsync(RefusingProxy proxy, string? noProxy)
    {
        string output = Path.Combine(registries.Images.NewScratchDirectory("proxy"), "rootfs");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (string argument in new[] { Decant, "export", RegistryFixture.Reference(registries.Anonymous, RegistryFixture.BuildahOpaque), "-o", output, "--progress", "none" })
        {
            start.ArgumentList.Add(argument);
        }
        foreach (string name in new[] { "http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY" })
        {
            start.Environment[name] = $"http://{proxy.Host}";
        }
        foreach (string name in new[] { "no_proxy", "NO_PROXY" })
        {
            start.Environment.Remove(name);
            if (noProxy is not null)
            {
                start.Environment[name] = noProxy;
            }
        }
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(timeout.Token);
        await stdout;
        return (process.ExitCode, await stderr, output);
    }

    /// <summary>A proxy that counts connections and answers each with 407.</summary>
    private sealed class RefusingProxy : IAsyncDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly Task _loop;
        private int _connections;

        public RefusingProxy()
        {
            _listener.Start();
            Host = $"127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";
            _loop = Task.Run(AcceptAsync);
        }

        public string Host { get; }

        public int Connections => Volatile.Read(ref _connections);

        private async Task AcceptAsync()
        {
            while (true)
            {
                try
                {
                    using var client = await _listener.AcceptTcpClientAsync();
                    Interlocked.Increment(ref _connections);
                    var stream = client.GetStream();
                    byte[] buffer = new byte[4096];
                    _ = await stream.ReadAsync(buffer);
                    await stream.WriteAsync(Encoding.ASCII.GetBytes("HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"));
                }
                catch (Exception error) when (error is SocketException or ObjectDisposedException or IOException)
                {
                    return;
                }
            }
        }

        public async ValueTask DisposeAsync()
        {
            _listener.Stop();
            await _loop;
        }
    }
}
