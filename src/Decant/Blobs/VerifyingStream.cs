using System.Globalization;
using System.Security.Cryptography;
using Decant.Manifests;
using Decant.Model;

namespace Decant.Blobs;

/// <summary>
/// A read-only stream that passes a blob through while counting and hashing it, and fails with
/// <see cref="DecantErrorKind.DigestMismatch"/> as soon as the blob is shown not to be what its
/// descriptor promised: fewer bytes than declared at end of stream, a single byte more than
/// declared (it never reads further than one byte past the declared size), or a digest that
/// differs once the declared number of bytes has arrived.
/// </summary>
/// <remarks>
/// The digest is checked in the read that delivers the last declared byte, so a caller that reads
/// exactly <c>size</c> bytes still gets verification; the next read then checks that the source
/// really ends there. Callers that stop early can call <see cref="DrainAndVerifyAsync"/>.
/// </remarks>
internal sealed class VerifyingStream : ReadOnlyStream
{
    private readonly Stream _inner;
    private readonly bool _leaveOpen;
    private readonly IncrementalHash _hash;
    private long _bytesRead;
    private bool _digestChecked;
    private bool _endConfirmed;
    private DecantException? _failure;
    private bool _innerDisposed;

    /// <summary>Verifies <paramref name="inner"/> against a digest and size.</summary>
    public VerifyingStream(Stream inner, Digest expectedDigest, long expectedSize, bool leaveOpen = false)
    {
        ArgumentNullException.ThrowIfNull(inner);
        if (expectedSize < 0)
        {
            throw new DecantException(DecantErrorKind.InvalidManifest, $"blob {expectedDigest} declares a negative size {expectedSize.ToString(CultureInfo.InvariantCulture)}");
        }
        _inner = inner;
        _leaveOpen = leaveOpen;
        ExpectedDigest = expectedDigest;
        ExpectedSize = expectedSize;
        _hash = expectedDigest.CreateHash();
    }

    /// <summary>Verifies <paramref name="inner"/> against a descriptor's digest and size.</summary>
    public VerifyingStream(Stream inner, Descriptor descriptor, bool leaveOpen = false)
        : this(inner, (descriptor ?? throw new ArgumentNullException(nameof(descriptor))).ParsedDigest, descriptor.Size, leaveOpen)
    {
    }

    /// <summary>The digest the blob must hash to, from its descriptor.</summary>
    public Digest ExpectedDigest { get; }

    /// <summary>The exact size in bytes the blob must have; reads never go more than one byte past it.</summary>
    public long ExpectedSize { get; }

    /// <summary>Bytes passed through so far.</summary>
    public long BytesRead => _bytesRead;

    /// <summary>True once the full size arrived, the digest matched and the source was seen to end.</summary>
    public bool IsVerified => _digestChecked && _endConfirmed && _failure is null;

    /// <summary>The number of bytes read so far (<see cref="BytesRead"/>); setting it is not supported.</summary>
    public override long Position
    {
        get => _bytesRead;
        set => throw new NotSupportedException();
    }

    /// <inheritdoc/>
    /// <exception cref="DecantException">The blob is shorter or longer than <see cref="ExpectedSize"/>, or does not match <see cref="ExpectedDigest"/> (<see cref="DecantErrorKind.DigestMismatch"/>); later reads throw it again.</exception>
    public override int Read(Span<byte> buffer)
    {
        if (!TryLimit(buffer.Length, out int toRead))
        {
            return 0;
        }
        Span<byte> window = buffer[..toRead];
        int read = _inner.Read(window);
        return Account(window[..read]);
    }

    /// <inheritdoc/>
    /// <exception cref="DecantException">The blob is shorter or longer than <see cref="ExpectedSize"/>, or does not match <see cref="ExpectedDigest"/> (<see cref="DecantErrorKind.DigestMismatch"/>); later reads throw it again.</exception>
    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (!TryLimit(buffer.Length, out int toRead))
        {
            return 0;
        }
        Memory<byte> window = buffer[..toRead];
        int read = await _inner.ReadAsync(window, cancellationToken).ConfigureAwait(false);
        return Account(window.Span[..read]);
    }

    /// <summary>Reads whatever the caller left unread and verifies the whole blob.</summary>
    public async Task DrainAndVerifyAsync(CancellationToken cancellationToken)
    {
        byte[] scratch = new byte[81920];
        while (await ReadAsync(scratch, cancellationToken).ConfigureAwait(false) > 0)
        {
        }
    }

    /// <summary>
    /// Decides how much to ask the inner stream for: never more than one byte past the declared
    /// size, so an oversized source is caught without reading it. False when nothing should be read.
    /// </summary>
    private bool TryLimit(int requested, out int toRead)
    {
        if (_failure is not null)
        {
            throw _failure;
        }
        toRead = 0;
        if (requested == 0 || _endConfirmed)
        {
            return false;
        }
        long remaining = ExpectedSize - _bytesRead;
        toRead = (int)Math.Min(requested, remaining + 1);
        return true;
    }

    private int Account(ReadOnlySpan<byte> data)
    {
        if (data.IsEmpty)
        {
            if (_bytesRead < ExpectedSize)
            {
                throw Fail($"blob {ExpectedDigest}: expected {ExpectedSize} bytes, got {_bytesRead}");
            }
            if (!_digestChecked)
            {
                CheckDigest(); // only reached for an empty blob: otherwise the last byte checked it
            }
            _endConfirmed = true;
            return 0;
        }
        _bytesRead += data.Length;
        if (_bytesRead > ExpectedSize)
        {
            throw Fail($"blob {ExpectedDigest}: expected {ExpectedSize} bytes, got at least {_bytesRead}");
        }
        _hash.AppendData(data);
        if (_bytesRead == ExpectedSize)
        {
            CheckDigest();
        }
        return data.Length;
    }

    private void CheckDigest()
    {
        var computed = Digest.FromHash(ExpectedDigest.Algorithm, _hash.GetHashAndReset());
        if (computed != ExpectedDigest)
        {
            throw Fail($"blob {ExpectedDigest}: digest mismatch: expected {ExpectedDigest}, computed {computed}");
        }
        _digestChecked = true;
    }

    private DecantException Fail(string message)
    {
        _failure = new DecantException(DecantErrorKind.DigestMismatch, message);
        return _failure;
    }

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _hash.Dispose();
            if (!_leaveOpen && !_innerDisposed)
            {
                _innerDisposed = true;
                _inner.Dispose();
            }
        }
        base.Dispose(disposing);
    }

    /// <inheritdoc/>
    public override async ValueTask DisposeAsync()
    {
        if (!_leaveOpen && !_innerDisposed)
        {
            _innerDisposed = true;
            await _inner.DisposeAsync().ConfigureAwait(false);
        }
        await base.DisposeAsync().ConfigureAwait(false);
    }
}
