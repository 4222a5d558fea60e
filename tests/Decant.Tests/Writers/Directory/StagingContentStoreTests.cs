using Decant.Interop;
using Decant.Model;
using Decant.Tests.Interop;
using Decant.Tests.Support;
using Decant.Tree;
using Decant.Writers;
using Decant.Writers.Directory;

namespace Decant.Tests.Writers.Directory;

public sealed class StagingContentStoreTests : IDisposable
{
    private readonly ScratchDirectory _scratch = new();
    private readonly ConfinedRoot _root;
    private readonly StagingContentStore _store;

    public StagingContentStoreTests()
    {
        _root = ConfinedRoot.Open(_scratch.Path);
        _store = StagingContentStore.Create(_root, OwnershipMode.Preserve);
    }

    public void Dispose()
    {
        _store.Dispose();
        _root.Dispose();
        _scratch.Dispose();
    }

    private string StagingPath => _scratch.Combine(_store.DirectoryName);

    /// <summary>The files staged, in whichever subdirectory of the staging directory.</summary>
    private string[] StagedFiles() => System.IO.Directory.GetFiles(StagingPath, "*", SearchOption.AllDirectories);

    [Fact]
    public void StagingDirectoryIsPrivate()
    {
        Assert.Equal(0x1C0u, FileSystemProbe.Permissions(StagingPath));
    }

    [Fact]
    public async Task ConcurrentWritesKeepEveryFileApart()
    {
        var payloads = Enumerable.Range(0, 32).Select(i => Enumerable.Repeat((byte)(i + 1), 10_000 + i * 4096).ToArray()).ToArray();

        var refs = await Task.WhenAll(payloads.Select(p => Task.Run(async () => await _store.WriteAsync(new MemoryStream(p), p.Length, CancellationToken.None))));

        var files = refs.Cast<StagedContent>().Select(r => r.FileName).ToList();
        Assert.Equal(files.Count, files.Distinct().Count());
        for (var i = 0; i < payloads.Length; i++)
        {
            Assert.Equal(payloads[i].Length, refs[i].Size);
            Assert.Equal(payloads[i], File.ReadAllBytes(System.IO.Path.Combine(StagingPath, files[i])));
        }
    }

    [Fact]
    public async Task StagedFilesAreSpreadOverSmallPrivateSubdirectories()
    {
        int count = 3 * StagingContentStore.FilesPerShard + 5;
        await Task.WhenAll(Enumerable.Range(0, count).Select(i => Task.Run(async () => await _store.WriteAsync(new MemoryStream([(byte)i]), 1, CancellationToken.None))));

        var shards = StagedFiles().GroupBy(f => System.IO.Path.GetDirectoryName(f)!).ToList();
        Assert.Equal(count, shards.Sum(g => g.Count()));
        Assert.Equal(4, shards.Count);
        Assert.All(shards, shard =>
        {
            Assert.InRange(shard.Count(), 1, StagingContentStore.FilesPerShard);
            Assert.Equal(0x1C0u, FileSystemProbe.Permissions(shard.Key));
        });
    }

    [Fact]
    public async Task ReleaseRemovesTheStagedFile()
    {
        var content = await _store.WriteAsync(new MemoryStream(new byte[100]), 100, CancellationToken.None);
        Assert.Single(StagedFiles());

        await _store.ReleaseAsync(content, CancellationToken.None);
        await _store.ReleaseAsync(content, CancellationToken.None); // twice is harmless

        Assert.Empty(StagedFiles());
        Assert.Throws<InvalidOperationException>(() => _store.Claim(content, "x"));
    }

    [Fact]
    public async Task ATruncatedStreamFailsAndLeavesNothingBehind()
    {
        var error = await Assert.ThrowsAsync<DecantException>(async () =>
            await _store.WriteAsync(new MemoryStream(new byte[1000]), 5000, CancellationToken.None));

        Assert.Equal(DecantErrorKind.InvalidLayer, error.Kind);
        Assert.Contains("1000 of 5000", error.Message, StringComparison.Ordinal);
        Assert.Empty(StagedFiles());
    }

    [Fact]
    public async Task ReadsExactlyTheGivenSizeFromALongerStream()
    {
        var stream = new MemoryStream([1, 2, 3, 4, 5, 6]);

        ContentRef content = await _store.WriteAsync(stream, 4, CancellationToken.None);

        Assert.Equal(4, stream.Position);
        var staged = Assert.IsType<StagedContent>(content);
        Assert.Equal(new byte[] { 1, 2, 3, 4 }, File.ReadAllBytes(System.IO.Path.Combine(StagingPath, staged.FileName)));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task StagedFilesGetTheirExactModeWhateverCreationKeeps(bool underDefaultAcl)
    {
        // A staged file whose permissions survive creation is created with them and never chmodded;
        // the others (umask or a default ACL in the way, setuid, setgid, sticky) are set afterwards.
        string parent = _scratch.Combine(underDefaultAcl ? "with-default-acl" : "with-umask");
        System.IO.Directory.CreateDirectory(parent);
        if (underDefaultAcl)
        {
            // Files created below keep at most rwxr-x---: creation alone cannot give 0644 or 0666.
            await ExternalTool.RunAsync("setfacl", "-d", "-m", "u::rwx,g::r-x,o::---", parent);
        }
        using var root = ConfinedRoot.Open(parent);
        using var store = StagingContentStore.Create(root, OwnershipMode.Preserve);
        var time = new Timestamp(1_700_000_000, 5);
        foreach (string octal in new[] { "644", "640", "600", "755", "750", "666", "777", "444", "0", "4755", "2750", "1777", "6711" })
        {
            uint mode = Convert.ToUInt32(octal, 8);
            var hint = new FileMetadataHint(mode, 0, 0, time, time);
            var staged = (StagedContent)await store.WriteAsync(new MemoryStream(new byte[10]), 10, hint, CancellationToken.None);
            string path = System.IO.Path.Combine(parent, store.DirectoryName, staged.FileName);
            Assert.True(mode == FileSystemProbe.Permissions(path), $"mode {octal} came out as {Convert.ToString(FileSystemProbe.Permissions(path), 8)}");
        }
    }
}
