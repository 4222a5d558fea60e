using Decant.Tests.Support;
using Decant.Tests.Writers.Directory;
using Decant.Tests.Writers.Ext4;
using Decant.Tree;
using Decant.Writers.Erofs;

namespace Decant.Tests.Writers.Erofs;

/// <summary>The sizes the issue names: a 100 000-entry directory and a 5 GiB sparse file, checked by fsck.erofs and the kernel.</summary>
[Collection(Ext4RunsAlone.Name)]
public sealed class ErofsScaleTests : IDisposable
{
    private readonly ScratchDirectory _scratch = new();

    public void Dispose() => _scratch.Dispose();

    [Fact]
    public async Task HundredThousandEntryDirectoryIsFoundByEveryLookup()
    {
        const int Count = 100_000;
        string image = _scratch.Combine("big-dir.erofs");
        var tree = new TreeBuilder();
        tree.Add("big", TestInodes.Directory(0x1ED));
        var names = Enumerable.Range(0, Count).Select(i => $"file-{i:D6}-with-a-name-long-enough-for-many-blocks").ToArray();
        await using (var writer = ErofsWriter.Create(new ErofsWriterOptions { Output = image }))
        {
            var content = await writer.Content.WriteAsync(new MemoryStream("shared"u8.ToArray()), 6, CancellationToken.None);
            foreach (string name in names)
            {
                tree.Add("big/" + name, TestInodes.File(name.StartsWith("file-000007-", StringComparison.Ordinal) ? content : null, 0x1A4));
            }
            await writer.CommitAsync(tree.Build(), CancellationToken.None);
        }
        await ErofsImages.AssertCleanAsync(image);
        Assert.Contains("Layout: 2", await ErofsImages.DumpAsync(image, "/big"), StringComparison.Ordinal);
        await using var mounted = await ErofsImages.MountAsync(image, _scratch.Combine("mnt"));
        string big = Path.Combine(mounted.Path, "big");
        Assert.Equal(Count, System.IO.Directory.EnumerateFileSystemEntries(big).Count());
        foreach (int i in (ReadOnlySpan<int>)[0, 1, 4_999, 50_000, 77_777, Count - 1])
        {
            Assert.True(File.Exists(Path.Combine(big, names[i])), names[i]); // a binary search over the blocks, then within one
        }
        Assert.False(File.Exists(Path.Combine(big, "file-100000-with-a-name-long-enough-for-many-blocks")));
        Assert.False(File.Exists(Path.Combine(big, "a")));
        Assert.False(File.Exists(Path.Combine(big, "zzz")));
        Assert.Equal("shared", await File.ReadAllTextAsync(Path.Combine(big, names[7])));
    }

    [Fact]
    public async Task FiveGibibyteSparseFileKeepsItsHolesAndItsData()
    {
        const long Size = 5L << 30;
        string image = _scratch.Combine("sparse.erofs");
        // 1 024 islands of data 5 MiB apart, one at the very end.
        var islands = new SortedDictionary<long, byte[]>();
        for (int i = 0; i < 1024; i++)
        {
            islands[i * (5L << 20) + 4096 * (i % 3)] = System.Text.Encoding.ASCII.GetBytes($"island {i:D4} ");
        }
        islands[Size - 100] = Enumerable.Repeat((byte)'E', 100).ToArray();
        var tree = new TreeBuilder();
        await using (var writer = ErofsWriter.Create(new ErofsWriterOptions { Output = image }))
        {
            var content = await writer.Content.WriteAsync(new Ext4ScaleTests.IslandStream(Size, islands), Size, CancellationToken.None);
            tree.Add("sparse", TestInodes.File(content, 0x1A4));
            await writer.CommitAsync(tree.Build(), CancellationToken.None);
        }
        Assert.InRange(new FileInfo(image).Length, 1, 16L << 20);
        await ErofsImages.AssertCleanAsync(image, extract: false);
        string dump = await ErofsImages.DumpAsync(image, "/sparse");
        Assert.Contains("Layout: 4", dump, StringComparison.Ordinal);
        Assert.Contains($"Size: {Size}", dump, StringComparison.Ordinal);
        await using var mounted = await ErofsImages.MountAsync(image, _scratch.Combine("mnt"));
        await using var file = File.OpenRead(Path.Combine(mounted.Path, "sparse"));
        Assert.Equal(Size, file.Length);
        foreach (var (offset, bytes) in islands)
        {
            long from = Math.Max(0, offset - 4);
            byte[] read = new byte[(int)(offset - from) + bytes.Length + 8];
            file.Position = from;
            int n = await file.ReadAtLeastAsync(read, (int)Math.Min(read.Length, Size - from), throwOnEndOfStream: false);
            int at = (int)(offset - from);
            Assert.True(read[..at].All(b => b == 0));
            Assert.Equal(bytes, read[at..(at + bytes.Length)]);
            Assert.True(read[(at + bytes.Length)..n].All(b => b == 0));
        }
    }
}
