using System.Diagnostics;
using Decant.Tests.Support;
using Decant.Tests.Writers.Directory;
using Decant.Tree;
using Decant.Writers.Ext4;
using Xunit.Abstractions;

namespace Decant.Tests.Writers.Ext4;

/// <summary>The sizes the issue names: a 100 000-entry directory and a 5 GiB sparse file, checked by e2fsck and the kernel.</summary>
/// <remarks>Speed is measured by bench/ext4-big-directory.sh, not asserted here: a timed test on a shared machine is noise.</remarks>
[Collection(Ext4RunsAlone.Name)]
public sealed class Ext4ScaleTests(ITestOutputHelper output) : IDisposable
{
    private readonly ScratchDirectory _scratch = new();

    public void Dispose() => _scratch.Dispose();

    [Fact]
    public async Task HundredThousandEntryDirectoryIsWrittenAsATwoLevelHtree()
    {
        const int Count = 100_000;
        string image = _scratch.Combine("big-dir.ext4");
        var tree = new TreeBuilder();
        tree.Add("big", TestInodes.Directory(0x1ED));
        var names = Enumerable.Range(0, Count).Select(i => $"file-{i:D6}-with-a-name-long-enough-for-two-levels").ToArray();
        var clock = new Stopwatch();
        await using (var writer = Ext4Writer.Create(new Ext4WriterOptions { Output = image }))
        {
            var content = await writer.Content.WriteAsync(new MemoryStream("shared"u8.ToArray()), 6, CancellationToken.None);
            foreach (string name in names)
            {
                tree.Add("big/" + name, TestInodes.File(name.StartsWith("file-000007-", StringComparison.Ordinal) ? content : null, 0x1A4));
            }
            clock.Start();
            await writer.CommitAsync(tree.Build(), CancellationToken.None);
            clock.Stop();
        }
        output.WriteLine($"100 000-entry directory: commit took {clock.Elapsed.TotalMilliseconds:F0} ms");

        await Ext4Images.AssertCleanAsync(image);
        Assert.Contains("Indirect levels: 1", await Ext4Images.DebugFsAsync(image, "htree_dump /big"), StringComparison.Ordinal);
        await using var mounted = await Ext4Images.MountAsync(image, _scratch.Combine("mnt"));
        string big = Path.Combine(mounted.Path, "big");
        Assert.Equal(Count, System.IO.Directory.EnumerateFileSystemEntries(big).Count());
        foreach (int i in (ReadOnlySpan<int>)[0, 1, 4_999, 50_000, 77_777, Count - 1])
        {
            Assert.True(File.Exists(Path.Combine(big, names[i])), names[i]); // a lookup through the htree
        }
        Assert.False(File.Exists(Path.Combine(big, "file-100000-with-a-name-long-enough-for-two-levels")));
        Assert.Equal("shared", await File.ReadAllTextAsync(Path.Combine(big, names[7])));
    }

    [Fact]
    public async Task FiveGibibyteSparseFileKeepsItsHolesAndItsData()
    {
        const long Size = 5L << 30;
        string image = _scratch.Combine("sparse.ext4");
        // 1 024 islands of data 5 MiB apart (so the extent tree needs leaf blocks), one at each end.
        var islands = new SortedDictionary<long, byte[]>();
        for (int i = 0; i < 1024; i++)
        {
            islands[i * (5L << 20) + 4096 * (i % 3)] = System.Text.Encoding.ASCII.GetBytes($"island {i:D4} ");
        }
        islands[Size - 100] = Enumerable.Repeat((byte)'E', 100).ToArray();
        var tree = new TreeBuilder();
        await using (var writer = Ext4Writer.Create(new Ext4WriterOptions { Output = image }))
        {
            var content = await writer.Content.WriteAsync(new IslandStream(Size, islands), Size, CancellationToken.None);
            tree.Add("sparse", TestInodes.File(content, 0x1A4));
            await writer.CommitAsync(tree.Build(), CancellationToken.None);
        }
        Assert.InRange(new FileInfo(image).Length, 1, 200L << 20);

        await Ext4Images.AssertCleanAsync(image);
        string stat = await Ext4Images.DebugFsAsync(image, "stat /sparse");
        Assert.Contains($"Size: {Size}", stat, StringComparison.Ordinal);
        Assert.Contains("Blockcount: " + (islands.Count * 8 + 8 * 4), stat, StringComparison.Ordinal); // one block per island, four leaf blocks
        await using var mounted = await Ext4Images.MountAsync(image, _scratch.Combine("mnt"));
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

    [Fact]
    public async Task FragmentedFileGetsAnExtentTreeOfDepthTwo()
    {
        // 2 000 one-block islands two blocks apart: 2 000 extents, 6 leaf blocks, one index block.
        const int Islands = 2000;
        long size = Islands * 8192L;
        var islands = new SortedDictionary<long, byte[]>();
        for (int i = 0; i < Islands; i++)
        {
            islands[i * 8192L] = System.Text.Encoding.ASCII.GetBytes($"block {i}");
        }
        string image = _scratch.Combine("fragmented.ext4");
        var tree = new TreeBuilder();
        await using (var writer = Ext4Writer.Create(new Ext4WriterOptions { Output = image }))
        {
            var content = await writer.Content.WriteAsync(new IslandStream(size, islands), size, CancellationToken.None);
            tree.Add("fragmented", TestInodes.File(content, 0x1A4));
            await writer.CommitAsync(tree.Build(), CancellationToken.None);
        }
        await Ext4Images.AssertCleanAsync(image);
        string extents = await Ext4Images.DebugFsAsync(image, "ex /fragmented");
        output.WriteLine(string.Join('\n', extents.Split('\n').Take(12)));
        Assert.Contains(" 2/ 2 ", extents, StringComparison.Ordinal);
        Assert.Contains("Blockcount: " + ((Islands + 6 + 1) * 8), await Ext4Images.DebugFsAsync(image, "stat /fragmented"), StringComparison.Ordinal);
        await using var mounted = await Ext4Images.MountAsync(image, _scratch.Combine("mnt"));
        byte[] read = await File.ReadAllBytesAsync(Path.Combine(mounted.Path, "fragmented"));
        byte[] expected = new byte[size];
        foreach (var (offset, bytes) in islands)
        {
            bytes.CopyTo(expected, offset);
        }
        Assert.Equal(expected, read);
    }

    /// <summary>A read-only stream of <c>length</c> bytes, zero except for the given islands.</summary>
    internal sealed class IslandStream(long length, SortedDictionary<long, byte[]> islands) : Stream
    {
        private long _position;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => length;
        public override long Position { get => _position; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count)
        {
            int n = (int)Math.Min(count, length - _position);
            var span = buffer.AsSpan(offset, n);
            span.Clear();
            foreach (var (at, bytes) in islands)
            {
                long from = Math.Max(at, _position), to = Math.Min(at + bytes.Length, _position + n);
                if (from < to)
                {
                    bytes.AsSpan((int)(from - at), (int)(to - from)).CopyTo(span[(int)(from - _position)..]);
                }
            }
            _position += n;
            return n;
        }

        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}

/// <summary>Tests that time the writer run alone.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class Ext4RunsAlone
{
    public const string Name = "Ext4 timing";
}
