using System.IO.Compression;
using System.Security.Cryptography;
using Decant.Blobs;
using Decant.Layers;
using Decant.Model;
using Decant.Tests.Layers;

namespace Decant.Tests.Blobs;

public class DecompressionTests
{
    private static byte[] Compressible(int length, int seed)
    {
        var random = new Random(seed);
        byte[] data = new byte[length];
        for (int i = 0; i < data.Length; i++)
        {
            data[i] = (byte)('a' + random.Next(6));
        }
        return data;
    }

    private static byte[] Gzip(byte[] data)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true))
        {
            gzip.Write(data);
        }
        return output.ToArray();
    }

    private static byte[] Zstd(byte[] data)
    {
        using var compressor = new ZstdSharp.Compressor(3);
        return compressor.Wrap(data).ToArray();
    }

    /// <summary>Decompresses through <see cref="Decompression"/>, reading with the given buffer size.</summary>
    /// <summary>Whether gzip is inflated by ISA-L (the default where the machine has it, as the test machines do) or by .NET's decoder.</summary>
    protected virtual bool InflateWithIsal => true;

    [Fact]
    public void IsaLIsThereToInflateWith()
    {
        Assert.True(IsalGzipStream.Decoder is not null, "ISA-L (Debian's libisal2, scripts/install-test-tools.sh) is missing or failed its check: gzip layers would be inflated by .NET's decoder only");
    }

    private async Task<(LayerCompression Kind, byte[] Output)> DecompressAsync(byte[] blob, int bufferSize = 81920, Stream? source = null)
    {
        await using var stream = await Decompression.OpenAsync(source ?? new MemoryStream(blob), leaveOpen: false, InflateWithIsal, CancellationToken.None);
        using var output = new MemoryStream();
        byte[] buffer = new byte[bufferSize];
        int read;
        while ((read = await stream.ReadAsync(buffer)) > 0)
        {
            output.Write(buffer, 0, read);
        }
        Assert.Equal(output.Length, stream.BytesDecompressed);
        return (stream.Compression, output.ToArray());
    }

    /// <summary>bzip2 and xz blobs, made by the real tools, are refused by name rather than read as a broken tar.</summary>
    [Theory]
    [InlineData("bzip2", "bzip2")]
    [InlineData("xz", "xz")]
    public async Task CompressionsOciLayersCannotHaveAreRefusedByName(string tool, string name)
    {
        byte[] blob = await WriteTempAndRunAsync(Compressible(10_000, 4), tool, "-c");
        var error = await Assert.ThrowsAsync<DecantException>(() => DecompressAsync(blob));
        Assert.Equal(DecantErrorKind.InvalidLayer, error.Kind);
        Assert.Contains($"{name}-compressed", error.Message, StringComparison.Ordinal);
    }

    private static async Task<byte[]> WriteTempAndRunAsync(byte[] input, string tool, params string[] arguments)
    {
        string path = Path.GetTempFileName();
        try
        {
            await File.WriteAllBytesAsync(path, input);
            return await TarTestTools.RunAsync(tool, [.. arguments, path]);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Theory]
    [InlineData(81920)]
    [InlineData(17)]
    [InlineData(3)]
    [InlineData(1)]
    public async Task DecodesGzipWithAnyReadSize(int bufferSize)
    {
        byte[] data = Compressible(200_000, 1);

        var (kind, output) = await DecompressAsync(Gzip(data), bufferSize);

        Assert.Equal(LayerCompression.Gzip, kind);
        Assert.Equal(data, output);
    }

    [Fact]
    public async Task DecodesEveryMemberOfAMultiMemberGzip()
    {
        byte[] first = Compressible(100_000, 2);
        byte[] second = Compressible(70_000, 3);
        byte[] third = [];

        var (_, output) = await DecompressAsync([.. Gzip(first), .. Gzip(second), .. Gzip(third), .. Gzip(first)]);

        Assert.Equal([.. first, .. second, .. first], output);
    }

    [Fact]
    public async Task DecodesWhatTheGzipToolWrote()
    {
        byte[] first = Compressible(150_000, 4);
        byte[] second = Compressible(10_000, 5);
        byte[] blob = [.. await WriteTempAndRunAsync(first, "gzip", "-c", "-9"), .. await WriteTempAndRunAsync(second, "gzip", "-c", "-1")];

        var (kind, output) = await DecompressAsync(blob);

        Assert.Equal(LayerCompression.Gzip, kind);
        Assert.Equal(SHA256.HashData([.. first, .. second]), SHA256.HashData(output));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(4)]
    [InlineData(8)]
    [InlineData(9)]
    [InlineData(5000)]
    public async Task TruncatedGzipIsAnInvalidLayer(int cut)
    {
        byte[] blob = Gzip(Compressible(100_000, 6));

        var error = await Assert.ThrowsAsync<DecantException>(() => DecompressAsync(blob[..^cut]));

        Assert.Equal(DecantErrorKind.InvalidLayer, error.Kind);
        Assert.Contains("gzip stream is corrupt or truncated", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(1, true)]
    [InlineData(1024, true)]
    [InlineData(3 << 20, true)]
    [InlineData(8, false)]
    [InlineData(200_000, false)]
    public async Task TrailingDataAfterTheLastGzipMemberIsNamedAsSuch(int length, bool zeros)
    {
        byte[] trailing = new byte[length];
        if (!zeros)
        {
            new Random(9).NextBytes(trailing);
            trailing[0] = 0x42; // not a gzip magic
        }
        byte[] blob = [.. Gzip(Compressible(100_000, 6)), .. trailing];

        foreach (int bufferSize in new[] { 81920, 100 })
        {
            var error = await Assert.ThrowsAsync<DecantException>(() => DecompressAsync(blob, bufferSize));

            Assert.Equal(DecantErrorKind.InvalidLayer, error.Kind);
            string plural = length == 1 ? "byte" : "bytes";
            Assert.Equal($"the layer's gzip stream has {length} {plural} of trailing data{(zeros ? " (all zeros)" : "")} after its last gzip member", error.Message);
        }
    }

    [Fact]
    public async Task TruncatedSecondGzipMemberIsAnInvalidLayer()
    {
        byte[] member = Gzip(Compressible(50_000, 7));

        var error = await Assert.ThrowsAsync<DecantException>(() => DecompressAsync([.. member, .. member[..^20]]));

        Assert.Equal(DecantErrorKind.InvalidLayer, error.Kind);
    }

    [Theory]
    [InlineData(100)]
    [InlineData(-6)] // inside the CRC-32 of the trailer
    public async Task CorruptGzipIsAnInvalidLayer(int position)
    {
        byte[] blob = Gzip(Compressible(100_000, 8));
        int index = position >= 0 ? position : blob.Length + position;
        blob[index] ^= 0x5A;

        var error = await Assert.ThrowsAsync<DecantException>(() => DecompressAsync(blob));

        Assert.Equal(DecantErrorKind.InvalidLayer, error.Kind);
        Assert.Contains("gzip", error.Message, StringComparison.Ordinal);
        Assert.IsNotType<DecantException>(error.InnerException);
    }

    [Fact]
    public async Task DecodesZstdFramesAndSkippableFrames()
    {
        byte[] first = Compressible(300_000, 9);
        byte[] second = Compressible(1_000, 10);
        byte[] skippable = [0x5E, 0x2A, 0x4D, 0x18, 3, 0, 0, 0, 1, 2, 3];

        var (kind, output) = await DecompressAsync([.. Zstd(first), .. skippable, .. Zstd(second)]);
        var (leadingKind, leadingOutput) = await DecompressAsync([.. skippable, .. Zstd(second)]);

        Assert.Equal(LayerCompression.Zstd, kind);
        Assert.Equal([.. first, .. second], output);
        Assert.Equal(LayerCompression.Zstd, leadingKind);
        Assert.Equal(second, leadingOutput);
    }

    [Fact]
    public async Task DecodesWhatTheZstdToolWrote()
    {
        byte[] data = Compressible(400_000, 11);
        byte[] blob = await WriteTempAndRunAsync(data, "zstd", "-q", "-c", "-3");

        var (kind, output) = await DecompressAsync(blob);

        Assert.Equal(LayerCompression.Zstd, kind);
        Assert.Equal(data, output);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(1000)]
    public async Task TruncatedZstdIsAnInvalidLayer(int cut)
    {
        byte[] blob = Zstd(Compressible(200_000, 12));

        var error = await Assert.ThrowsAsync<DecantException>(() => DecompressAsync(blob[..^cut]));

        Assert.Equal(DecantErrorKind.InvalidLayer, error.Kind);
        Assert.Contains("zstd stream is corrupt or truncated", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CorruptZstdIsAnInvalidLayer()
    {
        byte[] blob = Zstd(Compressible(200_000, 13));
        for (int i = 20; i < 60; i++)
        {
            blob[i] ^= 0xA5;
        }

        var error = await Assert.ThrowsAsync<DecantException>(() => DecompressAsync(blob));

        Assert.Equal(DecantErrorKind.InvalidLayer, error.Kind);
        Assert.Contains("zstd", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PassesAnUncompressedTarThrough()
    {
        byte[] tar = new TarBlocks().File("f", Compressible(5000, 14)).End().ToArray();

        var (kind, output) = await DecompressAsync(tar, bufferSize: 1000);

        Assert.Equal(LayerCompression.None, kind);
        Assert.Equal(tar, output);
    }

    [Theory]
    [InlineData(new byte[0])]
    [InlineData(new byte[] { 0x1F })]
    [InlineData(new byte[] { 0x1F, 0x8B })]
    [InlineData(new byte[] { 0x28, 0xB5, 0x2F })]
    public async Task PassesShortBlobsThroughUnchanged(byte[] blob)
    {
        var (kind, output) = await DecompressAsync(blob);

        Assert.Equal(LayerCompression.None, kind);
        Assert.Equal(blob, output);
    }

    [Fact]
    public async Task PeeksWithoutSeekingASourceThatYieldsOneByteAtATime()
    {
        byte[] data = Compressible(20_000, 15);
        byte[] blob = Gzip(data);

        var (kind, output) = await DecompressAsync(blob, source: new OneByteStream(blob));

        Assert.Equal(LayerCompression.Gzip, kind);
        Assert.Equal(data, output);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task DisposesTheSourceUnlessLeftOpen(bool leaveOpen)
    {
        var source = new MemoryStream(Gzip([1, 2, 3]));

        await using (await Decompression.OpenAsync(source, leaveOpen, CancellationToken.None))
        {
        }

        Assert.Equal(leaveOpen, source.CanRead);
    }

    [Theory]
    [InlineData("--gzip", nameof(LayerCompression.Gzip))]
    [InlineData("--zstd", nameof(LayerCompression.Zstd))]
    [InlineData("--no-auto-compress", nameof(LayerCompression.None))]
    public async Task FeedsTheTarReaderWhatGnuTarCompressed(string compressOption, string expectedName)
    {
        var expected = Enum.Parse<LayerCompression>(expectedName);
        using var tree = new TarTestTree();
        byte[] content = Compressible(300_000, 16);
        tree.Write("dir/file.bin", content);
        byte[] blob = await tree.TarAsync(compressOption);

        await using var stream = await Decompression.OpenAsync(new MemoryStream(blob), CancellationToken.None);
        var reader = new LayerTarReader(stream);
        byte[]? read = null;
        while (await reader.ReadNextAsync(CancellationToken.None) is { } header)
        {
            if (header.Name == "./dir/file.bin")
            {
                using var copy = new MemoryStream();
                await reader.OpenData().CopyToAsync(copy);
                read = copy.ToArray();
            }
        }
        await reader.DrainAsync(CancellationToken.None);

        Assert.Equal(expected, stream.Compression);
        Assert.Equal(content, read);
        Assert.Equal(stream.BytesDecompressed, reader.BytesRead);
        Assert.Equal(0, reader.BytesRead % 10240); // GNU tar pads to whole records, and the reader took them all
    }

    [Fact]
    public void DetectsCompressionFromMagicBytesOnly()
    {
        Assert.Equal(LayerCompression.Gzip, Decompression.Detect([0x1F, 0x8B, 0x08, 0x00]));
        Assert.Equal(LayerCompression.None, Decompression.Detect([0x1F, 0x8B, 0x07, 0x00]));
        Assert.Equal(LayerCompression.Zstd, Decompression.Detect([0x28, 0xB5, 0x2F, 0xFD]));
        Assert.Equal(LayerCompression.Zstd, Decompression.Detect([0x50, 0x2A, 0x4D, 0x18]));
        Assert.Equal(LayerCompression.None, Decompression.Detect([0x60, 0x2A, 0x4D, 0x18]));
        Assert.Equal(LayerCompression.None, Decompression.Detect("ustar"u8));
    }

    /// <summary>A non-seekable source that returns one byte per read.</summary>
    private sealed class OneByteStream(byte[] data) : Stream
    {
        private int _position;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count)
        {
            if (_position == data.Length || count == 0)
            {
                return 0;
            }
            buffer[offset] = data[_position++];
            return 1;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}

/// <summary>The same cases, with gzip inflated by .NET's own decoder: the path of a machine without ISA-L, or with <c>DECANT_ISAL=0</c>.</summary>
public sealed class DotNetGzipDecompressionTests : DecompressionTests
{
    protected override bool InflateWithIsal => false;
}
