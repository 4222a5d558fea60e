using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using Decant.Model;
using Decant.Sources.ContainersStorage;
using Decant.Tests.Support;

namespace Decant.Tests.Sources;

/// <summary>
/// The tar rebuilt from a tar-split record and a layer directory: exact bytes, and a clear error for
/// a record or a directory that lies (a name outside the layer, a symlink, a file of another size).
/// </summary>
public sealed class TarSplitLayerStreamTests : IDisposable
{
    private readonly ScratchDirectory _scratch = new();

    public void Dispose() => _scratch.Dispose();

    private static string Segment(int position, byte[] bytes) =>
        $"{{\"type\":2,\"payload\":\"{Convert.ToBase64String(bytes)}\",\"position\":{position}}}";

    private static string File(int position, string name, long size) =>
        $"{{\"type\":1,\"name\":\"{name}\",\"size\":{size},\"payload\":\"AAAAAAAAAAA=\",\"position\":{position}}}";

    private string WriteRecord(params string[] lines)
    {
        string path = _scratch.Combine("layer.tar-split.gz");
        using var file = System.IO.File.Create(path);
        using var gzip = new GZipStream(file, CompressionLevel.Fastest);
        gzip.Write(Encoding.UTF8.GetBytes(string.Join('\n', lines) + "\n"));
        return path;
    }

    private string LayerDirectory()
    {
        string directory = _scratch.Combine("diff");
        Directory.CreateDirectory(Path.Combine(directory, "etc"));
        System.IO.File.WriteAllText(Path.Combine(directory, "etc", "hello"), "hello\n");
        return directory;
    }

    private static async Task<byte[]> ReadAllAsync(Stream stream)
    {
        await using (stream)
        {
            using var copy = new MemoryStream();
            await stream.CopyToAsync(copy);
            return copy.ToArray();
        }
    }

    [Fact]
    public async Task SegmentsAndFilesMakeTheExactStream()
    {
        byte[] header = RandomNumberGenerator.GetBytes(512);
        byte[] trailer = new byte[1024 + 506];
        string record = WriteRecord(Segment(0, header), File(1, "./etc/hello", 6), Segment(2, trailer), File(3, "etc/", 0), Segment(4, []));
        byte[] tar = await ReadAllAsync(TarSplitLayerStream.Open(record, LayerDirectory(), "layer x"));
        Assert.Equal([.. header, .. "hello\n"u8.ToArray(), .. trailer], tar);
    }

    [Theory]
    [InlineData("../outside", "not inside the layer")]
    [InlineData("etc/missing", "cannot open etc/missing")]
    public async Task ANameOutsideTheLayerOrMissingIsAnInvalidLayer(string name, string expected)
    {
        System.IO.File.WriteAllText(_scratch.Combine("outside"), "secret");
        string record = WriteRecord(Segment(0, new byte[512]), File(1, name, 6));
        var error = await Assert.ThrowsAsync<DecantException>(() => ReadAllAsync(TarSplitLayerStream.Open(record, LayerDirectory(), "layer x")));
        Assert.Equal(DecantErrorKind.InvalidLayer, error.Kind);
        Assert.StartsWith("layer x: ", error.Message, StringComparison.Ordinal);
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ASymlinkInTheLayerDirectoryIsNotFollowed()
    {
        string directory = LayerDirectory();
        System.IO.File.WriteAllText(_scratch.Combine("secret"), "secret");
        System.IO.File.CreateSymbolicLink(Path.Combine(directory, "link"), _scratch.Combine("secret"));
        Directory.CreateSymbolicLink(Path.Combine(directory, "up"), _scratch.Path);
        foreach (string name in new[] { "link", "up/secret" })
        {
            string record = WriteRecord(Segment(0, new byte[512]), File(1, name, 6));
            var error = await Assert.ThrowsAsync<DecantException>(() => ReadAllAsync(TarSplitLayerStream.Open(record, directory, "layer x")));
            Assert.Equal(DecantErrorKind.InvalidLayer, error.Kind);
        }
    }

    [Fact]
    public async Task AFileOfAnotherSizeThanTheRecordSaysIsAnInvalidLayer()
    {
        string record = WriteRecord(Segment(0, new byte[512]), File(1, "etc/hello", 7));
        var error = await Assert.ThrowsAsync<DecantException>(() => ReadAllAsync(TarSplitLayerStream.Open(record, LayerDirectory(), "layer x")));
        Assert.Contains("etc/hello in the layer's directory is a regular file of 6 bytes, but the layer's tar-split record says a file of 7 bytes", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{\"type\":2,\"payload\":\"AAAA\",\"position\":5}", "says it is entry 5")]
    [InlineData("{\"type\":9,\"position\":0}", "unknown type 9")]
    [InlineData("not json", "is not valid")]
    [InlineData("{\"type\":2,\"payload\":\"!!!\",\"position\":0}", "is not valid")]
    public async Task ADamagedRecordIsAnInvalidLayer(string line, string expected)
    {
        string record = WriteRecord(line);
        var error = await Assert.ThrowsAsync<DecantException>(() => ReadAllAsync(TarSplitLayerStream.Open(record, LayerDirectory(), "layer x")));
        Assert.Equal(DecantErrorKind.InvalidLayer, error.Kind);
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TheFileBehindEachDataRunIsKnownWhenTheReaderReachesIt()
    {
        string record = WriteRecord(Segment(0, new byte[512]), File(1, "etc/hello", 6), Segment(2, new byte[1530]));
        await using var stream = TarSplitLayerStream.Open(record, LayerDirectory(), "layer x");
        byte[] header = new byte[512];
        await stream.ReadExactlyAsync(header);
        using (var file = stream.OpenDataFile(512, 6))
        {
            Assert.NotNull(file);
            byte[] content = new byte[6];
            Assert.Equal(6, RandomAccess.Read(file, content, 0));
            Assert.Equal("hello\n"u8.ToArray(), content);
        }
        Assert.Null(stream.OpenDataFile(512, 7));
        Assert.Null(stream.OpenDataFile(0, 6));
    }
}
