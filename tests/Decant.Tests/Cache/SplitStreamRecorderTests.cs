using System.Security.Cryptography;
using System.Text.Json;
using Decant.Cache;
using Decant.Layers;
using Decant.Tests.Hostile;
using Decant.Tests.Support;

namespace Decant.Tests.Cache;

/// <summary>
/// Layers read once by the real indexer, with a recorder: the split stream it writes and the objects
/// the contents went to regenerate the layer's exact tar, whose sha256 is the image config's
/// diff_id, for every layer of the corpus made by umoci and buildah (gzip and zstd) and the sample.
/// </summary>
[Collection(UsesRealImages.Name)]
public sealed class SplitStreamRecorderTests(RealImages images) : RealImagesTest(images)
{
    /// <summary>Indexes one layer blob with a recorder; returns the record and how many entries the index holds.</summary>
    private async Task<(byte[] Record, int Entries, string DiffId)> RecordAsync(Stream blob, ObjectStore objects)
    {
        using var record = new MemoryStream();
        LayerIndex index;
        await using (var recorder = new SplitStreamRecorder(record))
        {
            index = await LayerIndexer.IndexAsync("sha256:test", blob, null, new ObjectContentStore(objects), new UnpackBudget(long.MaxValue), TarReaderLimits.Default, Token, recorder: recorder);
        }
        return (record.ToArray(), index.Entries.Count, index.DiffId);
    }

    private async Task<string> RegeneratedDiffIdAsync(byte[] record, ObjectStore objects)
    {
        using var tar = new MemoryStream();
        await SplitStream.RegenerateAsync(new MemoryStream(record), objects, tar, Token);
        return "sha256:" + Convert.ToHexStringLower(SHA256.HashData(tar.ToArray()));
    }

    [Theory]
    [InlineData("umoci-multi")]
    [InlineData("umoci-multi-zstd")]
    [InlineData("buildah-opaque")]
    [InlineData("sample")]
    public async Task EveryCorpusLayerRegeneratesToItsDiffId(string image)
    {
        string layout = image == "sample" ? Images.SampleBusybox : Path.Combine(Images.CorpusDirectory, image);
        using var scratch = new ScratchDirectory();
        var objects = new ObjectStore(scratch.Path);
        var manifest = await RealImagesLayout.ReadManifestAsync(layout, RealImages.Tag, Token);
        using var config = JsonDocument.Parse(await File.ReadAllBytesAsync(RealImagesLayout.BlobPath(layout, manifest.Config), Token));
        var diffIds = config.RootElement.GetProperty("rootfs").GetProperty("diff_ids").EnumerateArray().Select(d => d.GetString()!).ToList();
        Assert.Equal(manifest.Layers.Count, diffIds.Count);

        for (int i = 0; i < manifest.Layers.Count; i++)
        {
            await using var blob = File.OpenRead(RealImagesLayout.BlobPath(layout, manifest.Layers[i]));
            var (record, entries, diffId) = await RecordAsync(blob, objects);

            Assert.True(entries > 0);
            Assert.Equal(diffIds[i], diffId);
            Assert.Equal(diffIds[i], await RegeneratedDiffIdAsync(record, objects));
        }
    }

    /// <summary>A sparse file's stored segments, and contents of every size around the inline limit, come back too.</summary>
    [Fact]
    public async Task SparseAndSmallContentsRegenerate()
    {
        using var scratch = new ScratchDirectory();
        var objects = new ObjectStore(scratch.Path);
        var layer = new LayerTar();
        foreach (int size in new[] { 0, 1, 63, 64, 65, 511, 512, 513, 70_000, 200_000 })
        {
            layer.File($"f{size}", new string('x', size));
        }
        byte[] tar = [.. layer.ToArray()[..^1024], .. HostileLayerTests.PaxSparse01(1L << 20)];

        var (record, entries, diffId) = await RecordAsync(new MemoryStream(tar), objects);

        Assert.Equal(11, entries); // the ten files and the sparse one: the reader parsed them all
        Assert.Equal("sha256:" + Convert.ToHexStringLower(SHA256.HashData(tar)), diffId);
        Assert.Equal(diffId, await RegeneratedDiffIdAsync(record, objects));
        Assert.True(record.Length < 4096, $"the record ({record.Length} bytes) keeps referenced contents inline");
    }

    /// <summary>Sparse files as GNU tar writes them (old GNU and PAX 1.0 maps), with several data segments.</summary>
    [Theory]
    [InlineData("gnu")]
    [InlineData("posix")]
    public async Task GnuTarSparseFilesRegenerate(string format)
    {
        using var scratch = new ScratchDirectory();
        string tree = scratch.Combine("tree");
        Directory.CreateDirectory(tree);
        await using (var holey = File.Create(Path.Combine(tree, "holey")))
        {
            foreach (long offset in new long[] { 0, 1 << 20, (3 << 20) + 100 })
            {
                holey.Position = offset;
                await holey.WriteAsync(new byte[9000].Select((_, i) => (byte)(i % 251 + 1)).ToArray(), Token);
            }
            holey.SetLength(5 << 20);
        }
        string tarPath = scratch.Combine("layer.tar");
        await Tools.RunCheckedAsync("tar", ["--sparse", $"--format={format}", "-cf", tarPath, "-C", tree, "holey"], Token);
        byte[] tar = await File.ReadAllBytesAsync(tarPath, Token);
        var objects = new ObjectStore(scratch.Combine("cache"));

        var (record, entries, diffId) = await RecordAsync(new MemoryStream(tar), objects);

        Assert.Equal(1, entries);
        Assert.Equal(diffId, await RegeneratedDiffIdAsync(record, objects));
        Assert.True(record.Length < 2048, $"the record ({record.Length} bytes) keeps the sparse data inline");
    }
}
