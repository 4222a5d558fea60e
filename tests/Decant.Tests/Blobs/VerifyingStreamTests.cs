using System.Security.Cryptography;
using Decant.Blobs;
using Decant.Manifests;
using Decant.Model;

namespace Decant.Tests.Blobs;

public class VerifyingStreamTests
{
    private static readonly byte[] Data = RandomNumberGenerator.GetBytes(100_000);
    private static readonly Digest DataDigest = Digest.Sha256Of(Data);

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(4096)]
    [InlineData(200_000)]
    public async Task PassesMatchingBlobThroughAtAnyReadSize(int chunk)
    {
        await using var stream = new VerifyingStream(new MemoryStream(Data), DataDigest, Data.Length);
        using var output = new MemoryStream();
        byte[] buffer = new byte[chunk];
        int read;
        while ((read = await stream.ReadAsync(buffer)) > 0)
        {
            output.Write(buffer, 0, read);
        }
        Assert.Equal(Data, output.ToArray());
        Assert.True(stream.IsVerified);
        Assert.Equal(Data.Length, stream.BytesRead);
    }

    [Fact]
    public void SynchronousReadsVerifyToo()
    {
        using var stream = new VerifyingStream(new MemoryStream(Data), DataDigest, Data.Length);
        using var output = new MemoryStream();
        stream.CopyTo(output, 3000);
        Assert.Equal(Data, output.ToArray());
        Assert.True(stream.IsVerified);
    }

    [Fact]
    public async Task WrongContentFailsWithBothDigests()
    {
        byte[] tampered = (byte[])Data.Clone();
        tampered[12345] ^= 0xFF;
        await using var stream = new VerifyingStream(new MemoryStream(tampered), DataDigest, Data.Length);
        var error = await Assert.ThrowsAsync<DecantException>(() => stream.CopyToAsync(Stream.Null));
        Assert.Equal(DecantErrorKind.DigestMismatch, error.Kind);
        Assert.Equal($"blob {DataDigest}: digest mismatch: expected {DataDigest}, computed {Digest.Sha256Of(tampered)}", error.Message);
    }

    [Fact]
    public void DigestIsCheckedInTheReadThatDeliversTheLastDeclaredByte()
    {
        byte[] tampered = (byte[])Data.Clone();
        tampered[0] ^= 0x01;
        using var stream = new VerifyingStream(new MemoryStream(tampered), DataDigest, Data.Length);
        byte[] buffer = new byte[Data.Length];
        var error = Assert.Throws<DecantException>(() => stream.ReadExactly(buffer));
        Assert.Equal(DecantErrorKind.DigestMismatch, error.Kind);
    }

    [Fact]
    public async Task TruncatedBlobFailsWithByteCounts()
    {
        await using var stream = new VerifyingStream(new MemoryStream(Data, 0, 70_000), DataDigest, Data.Length);
        var error = await Assert.ThrowsAsync<DecantException>(() => stream.CopyToAsync(Stream.Null));
        Assert.Equal(DecantErrorKind.DigestMismatch, error.Kind);
        Assert.Equal($"blob {DataDigest}: expected {Data.Length} bytes, got 70000", error.Message);
    }

    [Fact]
    public async Task LongerBlobFailsAfterAtMostOneExtraByteFromAnEndlessSource()
    {
        var endless = new EndlessStream();
        await using var stream = new VerifyingStream(endless, DataDigest, 1000);
        var error = await Assert.ThrowsAsync<DecantException>(() => stream.CopyToAsync(Stream.Null));
        Assert.Equal(DecantErrorKind.DigestMismatch, error.Kind);
        Assert.Contains("expected 1000 bytes, got at least", error.Message, StringComparison.Ordinal);
        Assert.True(endless.Delivered <= 1001, $"read {endless.Delivered} bytes from the source");
    }

    [Fact]
    public async Task ExactSizeButTrailingByteFailsEvenWhenDigestMatches()
    {
        byte[] longer = [.. Data, 0x42];
        await using var stream = new VerifyingStream(new MemoryStream(longer), DataDigest, Data.Length);
        var error = await Assert.ThrowsAsync<DecantException>(() => stream.CopyToAsync(Stream.Null));
        Assert.Contains($"expected {Data.Length} bytes, got at least {Data.Length + 1}", error.Message, StringComparison.Ordinal);
        Assert.False(stream.IsVerified);
    }

    [Fact]
    public async Task EmptyBlobVerifies()
    {
        await using var stream = new VerifyingStream(new MemoryStream(), Digest.Sha256Of([]), 0);
        Assert.Equal(0, await stream.ReadAsync(new byte[16]));
        Assert.True(stream.IsVerified);
    }

    [Fact]
    public async Task EmptySourceForNonEmptyDigestFails()
    {
        await using var stream = new VerifyingStream(new MemoryStream(), Digest.Sha256Of([]), 5);
        var error = await Assert.ThrowsAsync<DecantException>(() => stream.CopyToAsync(Stream.Null));
        Assert.Equal($"blob {Digest.Sha256Of([])}: expected 5 bytes, got 0", error.Message);
    }

    [Fact]
    public async Task DrainVerifiesWhatTheCallerLeftUnread()
    {
        await using var stream = new VerifyingStream(new MemoryStream(Data), DataDigest, Data.Length);
        await stream.ReadExactlyAsync(new byte[10]);
        Assert.False(stream.IsVerified);
        await stream.DrainAndVerifyAsync(CancellationToken.None);
        Assert.True(stream.IsVerified);
    }

    [Fact]
    public async Task FailureSticksOnLaterReads()
    {
        await using var stream = new VerifyingStream(new MemoryStream(Data, 0, 10), DataDigest, Data.Length);
        await Assert.ThrowsAsync<DecantException>(() => stream.CopyToAsync(Stream.Null));
        await Assert.ThrowsAsync<DecantException>(() => stream.CopyToAsync(Stream.Null));
    }

    [Fact]
    public void Sha512DigestsAreSupported()
    {
        var digest = Digest.FromHash("sha512", SHA512.HashData(Data));
        using var stream = new VerifyingStream(new MemoryStream(Data), digest, Data.Length);
        stream.CopyTo(Stream.Null);
        Assert.True(stream.IsVerified);
    }

    [Fact]
    public void NegativeDeclaredSizeIsAnInvalidManifest()
    {
        var error = Assert.Throws<DecantException>(() => new VerifyingStream(new MemoryStream(), DataDigest, -1));
        Assert.Equal(DecantErrorKind.InvalidManifest, error.Kind);
    }

    /// <summary>Produces bytes forever and counts how many were taken.</summary>
    private sealed class EndlessStream : Stream
    {
        public long Delivered { get; private set; }
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => Delivered; set => throw new NotSupportedException(); }
        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            buffer.Fill(0x61);
            Delivered += buffer.Length;
            return buffer.Length;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
