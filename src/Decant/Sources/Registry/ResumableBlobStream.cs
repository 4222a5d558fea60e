using System.Globalization;
using System.Net;
using Decant.Model;

namespace Decant.Sources.Registry;

/// <summary>
/// A blob download that survives interruptions. Reads come from the current response body; when
/// the connection breaks, the body ends before the declared size, or no byte arrives for
/// <see cref="SourceOptions.StallTimeout"/>, the stream waits (backoff with jitter) and asks again
/// with <c>Range: bytes=N-</c> from the byte it reached, up to <see cref="SourceOptions.MaxRetries"/> times.
/// </summary>
/// <remarks>
/// A resumed answer is accepted as a 206 whose <c>Content-Range</c> starts at exactly N. A server
/// that ignores the range and answers 200 with the whole blob is also accepted: the first N bytes
/// are read and dropped (they were already delivered and hashed; the digest check downstream still
/// covers the whole blob). This costs at most one extra download per interruption, bounded by the
/// retry limit, and keeps registries without range support working. A 206 with any other range is
/// an error. A 416 means the blob is shorter than declared: the stream ends and the verifier
/// downstream reports the size mismatch.
/// </remarks>
internal sealed class ResumableBlobStream : Stream
{
    private readonly Func<long, CancellationToken, Task<HttpResponseMessage>> _open;
    private readonly RegistryHttp _http;
    private readonly string _what;
    private readonly long _size;
    private HttpResponseMessage? _response;
    private Stream? _body;
    private long _position;
    private long _skip;
    private int _interruptions;
    private bool _ended;

    private ResumableBlobStream(Func<long, CancellationToken, Task<HttpResponseMessage>> open, RegistryHttp http, string what, long size)
    {
        _open = open;
        _http = http;
        _what = what;
        _size = size;
    }

    /// <summary>How many times the download was resumed.</summary>
    public int Interruptions => _interruptions;

    /// <summary>
    /// Opens the blob: <paramref name="open"/> is called with the offset to start at (0 first) and
    /// must return a 200 or 206 response (or 416), or throw.
    /// </summary>
    public static async Task<ResumableBlobStream> OpenAsync(Func<long, CancellationToken, Task<HttpResponseMessage>> open, RegistryHttp http, string what, long size, CancellationToken cancellationToken)
    {
        var stream = new ResumableBlobStream(open, http, what, size);
        try
        {
            await stream.ConnectAsync(cancellationToken).ConfigureAwait(false);
            return stream;
        }
        catch
        {
            await stream.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (buffer.IsEmpty)
        {
            return 0;
        }
        while (true)
        {
            if (_ended)
            {
                return 0;
            }
            if (_body is null)
            {
                await ConnectAsync(cancellationToken).ConfigureAwait(false);
                continue;
            }
            string? interruption;
            try
            {
                int read = await ReadWithStallTimeoutAsync(buffer, cancellationToken).ConfigureAwait(false);
                if (read > 0 && _skip > 0)
                {
                    int dropped = (int)Math.Min(read, _skip);
                    _skip -= dropped;
                    if (dropped == read)
                    {
                        continue;
                    }
                    buffer.Span[dropped..read].CopyTo(buffer.Span);
                    read -= dropped;
                }
                if (read > 0)
                {
                    _position += read;
                    return read;
                }
                if (_position >= _size)
                {
                    _ended = true;
                    return 0;
                }
                interruption = $"the connection ended after {_position} of {_size} bytes";
            }
            catch (Exception error) when (error is IOException or HttpRequestException or TransientFailure && !cancellationToken.IsCancellationRequested)
            {
                interruption = error.Message;
            }
            await InterruptedAsync(interruption, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task<int> ReadWithStallTimeoutAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        using var stall = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        stall.CancelAfter(_http.Options.StallTimeout);
        try
        {
            return await _body!.ReadAsync(buffer, stall.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TransientFailure($"no data for {_http.Options.StallTimeout.TotalSeconds:0.###} s after {_position} of {_size} bytes (stalled)");
        }
    }

    private async Task InterruptedAsync(string reason, CancellationToken cancellationToken)
    {
        await CloseResponseAsync().ConfigureAwait(false);
        _interruptions++;
        if (_interruptions > _http.Options.MaxRetries)
        {
            throw new DecantException(DecantErrorKind.NetworkError, $"{_what}: download interrupted {_interruptions} times; last: {reason}");
        }
        await Task.Delay(_http.RetryDelay(_interruptions), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Requests the blob from <see cref="_position"/> and checks that the answer fits.</summary>
    private async Task ConnectAsync(CancellationToken cancellationToken)
    {
        var response = await _open(_position, cancellationToken).ConfigureAwait(false);
        try
        {
            if (response.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable && _position > 0)
            {
                _ended = true; // shorter than declared: the verifier reports it
                response.Dispose();
                return;
            }
            if (response.StatusCode == HttpStatusCode.PartialContent)
            {
                long? start = response.Content.Headers.ContentRange?.From;
                if (start != _position)
                {
                    throw new DecantException(DecantErrorKind.NetworkError, $"{_what}: asked to resume at byte {_position} but the server sent Content-Range {response.Content.Headers.ContentRange?.ToString() ?? "(none)"}");
                }
                _skip = 0;
            }
            else if (response.StatusCode == HttpStatusCode.OK)
            {
                _skip = _position; // the server ignored the range: drop what was already delivered
            }
            else
            {
                throw new DecantException(DecantErrorKind.NetworkError, $"{_what}: unexpected {(int)response.StatusCode} {response.ReasonPhrase} {(_position > 0 ? "when resuming at byte " + _position.ToString(CultureInfo.InvariantCulture) : "")}".TrimEnd());
            }
            _body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            _response = response;
        }
        catch
        {
            response.Dispose();
            throw;
        }
    }

    private async Task CloseResponseAsync()
    {
        if (_body is not null)
        {
            await _body.DisposeAsync().ConfigureAwait(false);
            _body = null;
        }
        _response?.Dispose();
        _response = null;
    }

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => _position;
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count) =>
        throw new NotSupportedException("the registry blob stream is read asynchronously");

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        ValidateBufferArguments(buffer, offset, count);
        return ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _body?.Dispose();
            _response?.Dispose();
            _body = null;
            _response = null;
        }
        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        await CloseResponseAsync().ConfigureAwait(false);
        await base.DisposeAsync().ConfigureAwait(false);
    }
}
