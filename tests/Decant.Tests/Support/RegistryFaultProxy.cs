using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Decant.Tests.Support;

/// <summary>What the fault proxy does to one response.</summary>
public enum FaultKind
{
    /// <summary>Relay it unchanged.</summary>
    None,
    /// <summary>Relay <see cref="Fault.Fraction"/> of the body, then drop the connection.</summary>
    Cut,
    /// <summary>Answer <see cref="Fault.Status"/> (with <see cref="Fault.RetryAfter"/>) without asking the registry.</summary>
    Status,
    /// <summary>Invert one body byte, at <see cref="Fault.Fraction"/> of the body.</summary>
    FlipByte,
    /// <summary>Relay <see cref="Fault.Fraction"/> of the body, then send nothing more while keeping the connection open.</summary>
    StallBody,
    /// <summary>Accept the request and never answer.</summary>
    StallHeaders,
    /// <summary>Answer 307 to <see cref="Fault.Location"/>.</summary>
    Redirect,
    /// <summary>Forward the request without its Range header, as a server without range support would answer.</summary>
    IgnoreRange,
    /// <summary>Hold the request until <see cref="Fault.Until"/> completes, then relay it unchanged (a gate: several clients released at one moment).</summary>
    Hold,
}

/// <summary>A fault to inject; <see cref="Fraction"/> is a position in the body (0–1), <see cref="Until"/> what a <see cref="FaultKind.Hold"/> waits for.</summary>
public sealed record Fault(FaultKind Kind, double Fraction = 0, int Status = 0, string? RetryAfter = null, string? Location = null, Task? Until = null)
{
    public static Fault None { get; } = new(FaultKind.None);
}

/// <summary>A request the proxy saw: its method, path, Range header, how many times this method and path were asked (1-based), and whether it carried credentials.</summary>
public sealed record ProxiedRequest(string Method, string Path, string? Range, int Number, bool HasAuthorization = false);

/// <summary>
/// The tests' only fake: a loopback TCP proxy in front of a real registry that injects faults into
/// chosen responses (cut connections, error statuses, flipped bytes, stalls). It speaks just enough
/// HTTP/1.1 to do so: one request per connection (it forces <c>Connection: close</c> both ways).
/// TLS client hellos are refused at once, so clients probing https fall back quickly.
/// </summary>
public sealed class RegistryFaultProxy : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly int _upstreamPort;
    private readonly Func<ProxiedRequest, Fault> _policy;
    private readonly ConcurrentDictionary<string, int> _counts = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    public RegistryFaultProxy(int upstreamPort, Func<ProxiedRequest, Fault> policy)
    {
        _upstreamPort = upstreamPort;
        _policy = policy;
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _loop = Task.Run(AcceptAsync);
    }

    public int Port { get; }

    public string Host => $"127.0.0.1:{Port}";

    /// <summary>Every request proxied, in arrival order.</summary>
    public ConcurrentQueue<ProxiedRequest> Requests { get; } = new();

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception error) when (error is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }
            _ = Task.Run(() => HandleAsync(client));
        }
    }

    private async Task HandleAsync(TcpClient client)
    {
        using (client)
        {
            try
            {
                await ServeAsync(client, _stop.Token);
            }
            catch (Exception error) when (error is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
            {
                // The client or the registry went away, or the proxy is stopping.
            }
        }
    }

    private async Task ServeAsync(TcpClient client, CancellationToken cancellationToken)
    {
        var clientStream = client.GetStream();
        var head = await ReadHeadAsync(clientStream, cancellationToken);
        if (head is null)
        {
            return; // TLS hello or garbage
        }
        string[] lines = head.Split("\r\n");
        string[] requestLine = lines[0].Split(' ');
        string? range = lines.Skip(1).FirstOrDefault(l => l.StartsWith("Range:", StringComparison.OrdinalIgnoreCase))?[6..].Trim();
        int number = _counts.AddOrUpdate(requestLine[0] + " " + requestLine[1], 1, (_, n) => n + 1);
        bool authorized = lines.Skip(1).Any(l => l.StartsWith("Authorization:", StringComparison.OrdinalIgnoreCase));
        var request = new ProxiedRequest(requestLine[0], requestLine[1], range, number, authorized);
        Requests.Enqueue(request);
        var fault = _policy(request);

        if (fault.Kind == FaultKind.Status)
        {
            string retryAfter = fault.RetryAfter is null ? "" : $"Retry-After: {fault.RetryAfter}\r\n";
            await clientStream.WriteAsync(Encoding.ASCII.GetBytes($"HTTP/1.1 {fault.Status} Injected\r\n{retryAfter}Content-Length: 0\r\nConnection: close\r\n\r\n"), cancellationToken);
            return;
        }
        if (fault.Kind == FaultKind.Redirect)
        {
            await clientStream.WriteAsync(Encoding.ASCII.GetBytes($"HTTP/1.1 307 Temporary Redirect\r\nLocation: {fault.Location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"), cancellationToken);
            return;
        }
        if (fault.Kind == FaultKind.IgnoreRange)
        {
            lines = [.. lines.Where(l => !l.StartsWith("Range:", StringComparison.OrdinalIgnoreCase))];
        }
        if (fault.Kind == FaultKind.StallHeaders)
        {
            await Task.Delay(Timeout.Infinite, cancellationToken);
        }
        if (fault.Kind == FaultKind.Hold)
        {
            await fault.Until!.WaitAsync(cancellationToken);
        }

        using var upstream = new TcpClient();
        await upstream.ConnectAsync(IPAddress.Loopback, _upstreamPort, cancellationToken);
        var upstreamStream = upstream.GetStream();
        await upstreamStream.WriteAsync(Encoding.Latin1.GetBytes(WithConnectionClose(lines) + "\r\n\r\n"), cancellationToken);

        string? responseHead = await ReadHeadAsync(upstreamStream, cancellationToken) ?? throw new IOException("the registry sent no response head");
        string[] responseLines = responseHead.Split("\r\n");
        long length = responseLines.Skip(1)
            .Where(l => l.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase))
            .Select(l => long.Parse(l[15..].Trim(), CultureInfo.InvariantCulture))
            .FirstOrDefault(-1);
        await clientStream.WriteAsync(Encoding.Latin1.GetBytes(WithConnectionClose(responseLines) + "\r\n\r\n"), cancellationToken);
        long faultAt = fault.Kind is FaultKind.None or FaultKind.IgnoreRange or FaultKind.Hold || length <= 0 ? long.MaxValue : Math.Clamp((long)(length * fault.Fraction), 0, length - 1);
        await RelayBodyAsync(upstreamStream, clientStream, fault.Kind, faultAt, client, cancellationToken);
    }

    private static async Task RelayBodyAsync(NetworkStream from, NetworkStream to, FaultKind kind, long faultAt, TcpClient client, CancellationToken cancellationToken)
    {
        byte[] buffer = new byte[16384];
        long relayed = 0;
        while (true)
        {
            int read = await from.ReadAsync(buffer, cancellationToken);
            if (read == 0)
            {
                return;
            }
            int send = read;
            bool atFault = relayed + read > faultAt;
            if (atFault && kind is FaultKind.Cut or FaultKind.StallBody)
            {
                send = (int)(faultAt - relayed);
            }
            else if (atFault && kind == FaultKind.FlipByte && faultAt >= relayed)
            {
                buffer[faultAt - relayed] ^= 0xFF;
            }
            await to.WriteAsync(buffer.AsMemory(0, send), cancellationToken);
            relayed += send;
            if (atFault && kind == FaultKind.Cut)
            {
                await to.FlushAsync(cancellationToken);
                client.Client.LingerState = new LingerOption(true, 0); // reset, like a dropped link
                return;
            }
            if (atFault && kind == FaultKind.StallBody)
            {
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }
        }
    }

    private static string WithConnectionClose(string[] lines) =>
        string.Join("\r\n", lines.Where(l => !l.StartsWith("Connection:", StringComparison.OrdinalIgnoreCase) && !l.StartsWith("Keep-Alive:", StringComparison.OrdinalIgnoreCase))
            .Append("Connection: close"));

    /// <summary>Reads up to the blank line ending an HTTP head; null when the peer starts with a TLS hello.</summary>
    private static async Task<string?> ReadHeadAsync(NetworkStream stream, CancellationToken cancellationToken)
    {
        var head = new List<byte>();
        byte[] one = new byte[1];
        while (head.Count < 65536)
        {
            if (await stream.ReadAsync(one, cancellationToken) == 0)
            {
                return null;
            }
            if (head.Count == 0 && one[0] == 0x16)
            {
                return null;
            }
            head.Add(one[0]);
            int n = head.Count;
            if (n >= 4 && head[n - 4] == '\r' && head[n - 3] == '\n' && head[n - 2] == '\r' && head[n - 1] == '\n')
            {
                return Encoding.Latin1.GetString([.. head.Take(n - 4)]);
            }
        }
        return null;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _loop;
        _stop.Dispose();
    }
}
