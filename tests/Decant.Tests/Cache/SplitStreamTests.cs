using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text.Json;
using Decant.Cache;
using Decant.Model;
using Decant.Tests.Support;

namespace Decant.Tests.Cache;

/// <summary>A layer kept as a split stream (tar bytes inline, file data as objects) comes back byte for byte: its sha256 is the image config's diff_id.</summary>
public class SplitStreamTests
{
    private static string Sample => Path.Combine(RealImages.FindRepositoryRoot(), "samples", "busybox");

    /// <summary>Splits a tar at its entries' data (found by System.Formats.Tar, independently of Decant's reader): data over 64 bytes becomes objects.</summary>
    private static async Task<byte[]> SplitAsync(byte[] tar, ObjectStore objects)
    {
        using var record = new MemoryStream();
        await using (var writer = new SplitStream.Writer(record))
        {
            long position = 0;
            using var reader = new TarReader(new MemoryStream(tar));
            while (await reader.GetNextEntryAsync() is { } entry)
            {
                if (entry.DataOffset < 0 || entry.Length <= 64)
                {
                    continue;
                }
                await writer.WriteInlineAsync(tar.AsMemory((int)position, (int)(entry.DataOffset - position)), CancellationToken.None);
                var added = await objects.AddAsync(new MemoryStream(tar, (int)entry.DataOffset, (int)entry.Length), entry.Length, CancellationToken.None);
                await writer.WriteObjectAsync(added.Digest, entry.Length, CancellationToken.None);
                position = entry.DataOffset + entry.Length;
            }
            await writer.WriteInlineAsync(tar.AsMemory((int)position), CancellationToken.None);
            await writer.CompleteAsync(CancellationToken.None);
        }
        return record.ToArray();
    }

    [Fact]
    public async Task TheSampleImagesLayersRegenerateToTheirDiffIds()
    {
        using var scratch = new ScratchDirectory();
        var objects = new ObjectStore(scratch.Path);
        var manifest = await RealImagesLayout.ReadManifestAsync(Sample, "latest", CancellationToken.None);
        using var config = JsonDocument.Parse(await File.ReadAllBytesAsync(RealImagesLayout.BlobPath(Sample, manifest.Config)));
        var diffIds = config.RootElement.GetProperty("rootfs").GetProperty("diff_ids").EnumerateArray().Select(d => d.GetString()!).ToList();
        Assert.NotEmpty(diffIds);

        for (int i = 0; i < manifest.Layers.Count; i++)
        {
            await using var blob = File.OpenRead(RealImagesLayout.BlobPath(Sample, manifest.Layers[i]));
            await using var gunzip = new GZipStream(blob, CompressionMode.Decompress);
            using var plain = new MemoryStream();
            await gunzip.CopyToAsync(plain);
            byte[] tar = plain.ToArray();

            byte[] record = await SplitAsync(tar, objects);
            Assert.True(record.Length < tar.Length / 4, $"the record ({record.Length} bytes) keeps file data inline");
            using var regenerated = new MemoryStream();
            long length = await SplitStream.RegenerateAsync(new MemoryStream(record), objects, regenerated, CancellationToken.None);

            Assert.Equal(tar.Length, length);
            Assert.Equal(diffIds[i], "sha256:" + Convert.ToHexStringLower(SHA256.HashData(regenerated.ToArray())));
        }
    }

    [Fact]
    public async Task AMissingObjectOrATruncatedRecordIsDamageNotATar()
    {
        using var scratch = new ScratchDirectory();
        var objects = new ObjectStore(scratch.Path);
        var tar = new MemoryStream();
        using (var writer = new TarWriter(tar, TarEntryFormat.Pax, leaveOpen: true))
        {
            writer.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "file") { DataStream = new MemoryStream(new byte[10_000]) });
        }
        byte[] record = await SplitAsync(tar.ToArray(), objects);

        var truncated = await Assert.ThrowsAsync<DecantException>(() => SplitStream.RegenerateAsync(new MemoryStream(record[..^8]), objects, Stream.Null, CancellationToken.None));
        Assert.Equal(DecantErrorKind.IOError, truncated.Kind);
        Assert.Contains("layer record is damaged", truncated.Message, StringComparison.Ordinal);

        Directory.Delete(scratch.Combine("objects"), recursive: true);
        var missing = await Assert.ThrowsAsync<DecantException>(() => SplitStream.RegenerateAsync(new MemoryStream(record), objects, Stream.Null, CancellationToken.None));
        Assert.Contains("is missing", missing.Message, StringComparison.Ordinal);
    }
}
