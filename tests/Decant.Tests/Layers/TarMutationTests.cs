using Decant.Layers;
using Decant.Model;

namespace Decant.Tests.Layers;

/// <summary>
/// Damages a rich archive at random and checks that the reader either reads it or fails with a
/// <see cref="DecantException"/>: never another exception type, never a hang.
/// </summary>
public class TarMutationTests
{
    private const int Rounds = 3000;

    private static byte[] RichArchive()
    {
        byte[] stored = new byte[700];
        new Random(1).NextBytes(stored);
        byte[] sparse10 = [.. "2\n0\n300\n5000\n400\n"u8.ToArray(), .. new byte[512 - 17], .. stored];
        return new TarBlocks()
            .Pax(TarBlocks.PaxRecords(("path", TarBlocks.Utf8("pax/name")), ("mtime", TarBlocks.Utf8("12.5")), ("SCHILY.xattr.user.a", [1, 2, 0, 3])))
            .File("short", stored)
            .Add(TarBlocks.Header("././@LongLink", 'L', 130), TarBlocks.Utf8(new string('L', 129) + "\0"))
            .Add(TarBlocks.Header("link", '2', linkName: "target"))
            .Pax(TarBlocks.PaxRecords(
                ("GNU.sparse.major", TarBlocks.Utf8("1")), ("GNU.sparse.minor", TarBlocks.Utf8("0")),
                ("GNU.sparse.name", TarBlocks.Utf8("sparse")), ("GNU.sparse.realsize", TarBlocks.Utf8("6000"))))
            .Add(TarBlocks.Header("GNUSparseFile.0/sparse", '0', sparse10.Length), sparse10)
            .Pax(TarBlocks.PaxRecords(("GNU.sparse.size", TarBlocks.Utf8("4000")), ("GNU.sparse.map", TarBlocks.Utf8("10,300,3000,400"))))
            .File("sparse01", stored)
            .Add(TarBlocks.Header("dev", '3', edit: b => TarBlocks.Base256(b, 329, 8, 5)))
            .End().ToArray();
    }

    [Fact]
    public async Task TheUndamagedArchiveReads()
    {
        var entries = await TarBlocks.ReadAllAsync(RichArchive());

        Assert.Equal(["pax/name", new string('L', 129), "sparse", "sparse01", "dev"], entries.Select(e => e.Header.Name));
        Assert.Equal([700, 0, 6000, 4000, 0], entries.Select(e => e.Data.Length));
    }

    [Fact]
    public async Task RandomDamageFailsOnlyWithDecantExceptions()
    {
        byte[] original = RichArchive();
        var headerBlocks = Enumerable.Range(0, original.Length / 512)
            .Where(i => !TarHeaderFields.IsZeroBlock(original.AsSpan(i * 512, 512)) && TarHeaderFields.ChecksumMatches(original.AsSpan(i * 512, 512), out _, out _))
            .ToHashSet();
        var random = new Random(12345);
        int failures = 0;
        for (int round = 0; round < Rounds; round++)
        {
            byte[] damaged = (byte[])original.Clone();
            int changes = random.Next(1, 4);
            for (int i = 0; i < changes; i++)
            {
                int position = random.Next(damaged.Length);
                damaged[position] = random.Next(3) == 0 ? (byte)random.Next(256) : (byte)"0123456789 \n=/,\0x\u0080\u00FF"[random.Next(18)];
                int block = position / 512;
                // Keep most damaged headers' checksums right, so the damage reaches the field parsers.
                if (headerBlocks.Contains(block) && random.Next(4) != 0)
                {
                    byte[] header = damaged.AsSpan(block * 512, 512).ToArray();
                    TarBlocks.SetChecksum(header);
                    header.CopyTo(damaged, block * 512);
                }
            }
            if (random.Next(5) == 0)
            {
                damaged = damaged[..random.Next(damaged.Length)];
            }
            try
            {
                await ReadBoundedAsync(damaged);
            }
            catch (DecantException)
            {
                failures++;
            }
        }
        // Both outcomes must occur, or the damage is not exercising anything.
        Assert.InRange(failures, 1, Rounds - 1);
    }

    /// <summary>Reads every entry, but at most 1 MiB of each (a damaged size could promise terabytes of holes).</summary>
    private static async Task ReadBoundedAsync(byte[] archive)
    {
        var reader = new LayerTarReader(new MemoryStream(archive));
        byte[] buffer = new byte[64 * 1024];
        while (await reader.ReadNextAsync(CancellationToken.None) is not null)
        {
            var data = reader.OpenData();
            long total = 0;
            int read;
            while (total < 1024 * 1024 && (read = await data.ReadAsync(buffer)) > 0)
            {
                total += read;
            }
        }
        await reader.DrainAsync(CancellationToken.None);
    }
}
