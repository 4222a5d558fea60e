using Decant.Cache;
using Decant.Layers;
using Decant.Model;

namespace Decant.Tests.Cache;

/// <summary>A record's object references are read from the record alone, in order, whatever kind of chunk holds them.</summary>
public class SplitStreamReferencesTests
{
    private static readonly string First = "sha256:" + new string('1', 64), Second = "sha256:" + new string('2', 64);

    private static async Task<MemoryStream> RecordAsync(bool complete)
    {
        var record = new MemoryStream();
        await using (var writer = new SplitStream.Writer(record))
        {
            await writer.WriteInlineAsync(new byte[3000], CancellationToken.None);
            await writer.WriteObjectAsync(First, 5000, CancellationToken.None);
            await writer.WriteInlineAsync(new byte[10], CancellationToken.None);
            await writer.WriteSparseObjectAsync(Second, 1 << 20, [new TarSparseSegment(0, 10), new TarSparseSegment(4096, 100)], CancellationToken.None);
            await writer.WriteObjectAsync(First, 5000, CancellationToken.None);
            if (complete)
            {
                await writer.CompleteAsync(CancellationToken.None);
            }
        }
        record.Position = 0;
        return record;
    }

    [Fact]
    public async Task ReferencesComeInOrderWithoutAnyObjectPresent()
    {
        using var record = await RecordAsync(complete: true);

        var references = await SplitStream.ReadReferencesAsync(record, CancellationToken.None);

        Assert.Equal([new(First, 5000), new(Second, 1 << 20), new(First, 5000)], references);
    }

    [Fact]
    public async Task AnIncompleteRecordIsRefused()
    {
        using var record = await RecordAsync(complete: false);

        var error = await Assert.ThrowsAsync<DecantException>(() => SplitStream.ReadReferencesAsync(record, CancellationToken.None));

        Assert.Equal(DecantErrorKind.IOError, error.Kind);
    }

    [Fact]
    public async Task AFileWithoutTheMagicIsRefused()
    {
        using var record = new MemoryStream("decant-splitstream 9\n"u8.ToArray());

        var error = await Assert.ThrowsAsync<DecantException>(() => SplitStream.ReadReferencesAsync(record, CancellationToken.None));

        Assert.Contains("magic", error.Message, StringComparison.Ordinal);
    }
}
