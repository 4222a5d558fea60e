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
        Assert.Throws<InvalidOperationException>(() => _store.Claim(content, "x", out _));
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

    private static FileMetadataHint HintFor(string entryName, uint mode = 0x1A4) =>
        new(mode, 0, 0, new Timestamp(1_700_000_000, 0), new Timestamp(1_700_000_000, 0), entryName);

    private async Task<StagedContent> WriteAsync(string entryName, byte[] data) =>
        (StagedContent)await _store.WriteAsync(new MemoryStream(data), data.Length, HintFor(entryName), CancellationToken.None);

    [Fact]
    public async Task AContentWithItsEntryNameIsWrittenAtThatPathThroughPrivateDirectories()
    {
        var content = await WriteAsync("./usr/bin/tool", [7, 8, 9]);

        Assert.True(content.InPlace);
        Assert.Equal("usr/bin/tool", content.FileName);
        Assert.Equal(new byte[] { 7, 8, 9 }, File.ReadAllBytes(_scratch.Combine("usr", "bin", "tool")));
        Assert.Equal(0x1A4u, FileSystemProbe.Permissions(_scratch.Combine("usr", "bin", "tool")));
        Assert.Equal(0x1C0u, FileSystemProbe.Permissions(_scratch.Combine("usr")));
        Assert.Equal(0x1C0u, FileSystemProbe.Permissions(_scratch.Combine("usr", "bin")));
        Assert.Empty(StagedFiles());

        Assert.Same(content, _store.Claim(content, "usr/bin/tool", out bool inPlace));
        Assert.True(inPlace);
    }

    [Fact]
    public async Task AContentClaimedForAnotherPathIsMovedThere()
    {
        var content = await WriteAsync("a/f", [1]);
        Assert.Same(content, _store.Claim(content, "b", out bool inPlace));
        Assert.False(inPlace);

        _store.MoveIntoPlace(content, _root.Handle, "b", "b");

        Assert.Equal(new byte[] { 1 }, File.ReadAllBytes(_scratch.Combine("b")));
        Assert.False(File.Exists(_scratch.Combine("a", "f")));
    }

    [Fact]
    public async Task ReleaseRemovesAContentWrittenInPlace()
    {
        var content = await WriteAsync("etc/passwd", [1]);

        await _store.ReleaseAsync(content, CancellationToken.None);

        Assert.False(File.Exists(_scratch.Combine("etc", "passwd")));
        Assert.Throws<InvalidOperationException>(() => _store.Claim(content, "etc/passwd", out _));
    }

    [Theory]
    [InlineData("taken")]           // something is there already
    [InlineData("file/inside")]     // a file on the way
    [InlineData("link/inside")]     // a symlink on the way (to a directory outside)
    [InlineData(".wh.x")]           // a whiteout
    [InlineData("d/.wh..wh..opq")]  // an opaque whiteout
    [InlineData(".wh..wh.plnk/1")]  // under aufs metadata
    [InlineData("../up")]           // climbs above the root
    public async Task AContentWhosePathIsNotFreeOrNotAFileIsStaged(string entryName)
    {
        File.WriteAllText(_scratch.Combine("taken"), "before");
        File.WriteAllText(_scratch.Combine("file"), "before");
        using var outside = new ScratchDirectory();
        System.IO.Directory.CreateSymbolicLink(_scratch.Combine("link"), outside.Path);

        var content = await WriteAsync(entryName, [1, 2]);

        Assert.False(content.InPlace);
        Assert.Single(StagedFiles());
        Assert.Equal("before", File.ReadAllText(_scratch.Combine("taken")));
        Assert.Equal("before", File.ReadAllText(_scratch.Combine("file")));
        Assert.Empty(System.IO.Directory.EnumerateFileSystemEntries(outside.Path));
    }

    [Fact]
    public async Task AContentUnderTheStagingDirectorysNameIsStaged()
    {
        var content = await WriteAsync(_store.DirectoryName + "/x", [1]);

        Assert.False(content.InPlace);
        Assert.Equal([System.IO.Path.Combine(StagingPath, content.FileName)], StagedFiles());
    }

    [Fact]
    public async Task ClearingTheWayMovesContentsOutOfADirectoryTheTreeDoesNotHave()
    {
        var content = await WriteAsync("d/e/f", [5]);

        _store.ClearTheWay(_root.Handle, "d", "d", CancellationToken.None);

        Assert.False(System.IO.Directory.Exists(_scratch.Combine("d")));
        Assert.False(_store.TakeDirectoryMade("d/e"));
        Assert.Single(StagedFiles());
        _store.Claim(content, "g", out bool inPlace);
        Assert.False(inPlace);
        _store.MoveIntoPlace(content, _root.Handle, "g", "g");
        Assert.Equal(new byte[] { 5 }, File.ReadAllBytes(_scratch.Combine("g")));
        Assert.Empty(StagedFiles());
    }

    [Fact]
    public async Task ClearingTheWayMovesAContentTheTreeDoesNotHaveThere()
    {
        var content = await WriteAsync("x", [5]);

        _store.ClearTheWay(_root.Handle, "x", "x", CancellationToken.None);

        Assert.False(File.Exists(_scratch.Combine("x")));
        Assert.Single(StagedFiles());
        _store.Claim(content, "y", out _);
        _store.MoveIntoPlace(content, _root.Handle, "y", "y");
        Assert.Equal(new byte[] { 5 }, File.ReadAllBytes(_scratch.Combine("y")));
    }

    [Fact]
    public void ClearingTheWayLeavesWhatTheStoreDidNotMake()
    {
        System.IO.Directory.CreateDirectory(_scratch.Combine("theirs"));

        _store.ClearTheWay(_root.Handle, "theirs", "theirs", CancellationToken.None);
        _store.ClearTheWay(_root.Handle, "nothing", "nothing", CancellationToken.None);

        Assert.True(System.IO.Directory.Exists(_scratch.Combine("theirs")));
    }

    [Fact]
    public async Task TheDirectoriesNotTakenAreRemovedAndTheTakenKept()
    {
        await _store.ReleaseAsync(await WriteAsync("a/b/f", [1]), CancellationToken.None);
        await _store.ReleaseAsync(await WriteAsync("c/g", [1]), CancellationToken.None);

        Assert.True(_store.TakeDirectoryMade("a"));
        _store.RemoveDirectoriesNotTaken(CancellationToken.None);

        Assert.True(System.IO.Directory.Exists(_scratch.Combine("a")));
        Assert.False(System.IO.Directory.Exists(_scratch.Combine("a", "b")));
        Assert.False(System.IO.Directory.Exists(_scratch.Combine("c")));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task FilesGetTheirExactOwnerWhateverTheTargetsGroupRules(bool setgidTarget)
    {
        // Creation gives a file the creator's owner, or the directory's group under a setgid target:
        // a file is chowned only when creation did not give it its owner already.
        string target = _scratch.Combine(setgidTarget ? "setgid" : "plain");
        System.IO.Directory.CreateDirectory(target);
        if (setgidTarget)
        {
            await ExternalTool.RunAsync("chown", "0:4321", target);
            await ExternalTool.RunAsync("chmod", "2755", target);
        }
        using var root = ConfinedRoot.Open(target);
        using var store = StagingContentStore.Create(root, OwnershipMode.Preserve);
        var time = new Timestamp(1_700_000_000, 0);
        foreach (var (uid, gid) in new[] { (0L, 0L), (0L, 4321L), (1234L, 5678L) })
        {
            string name = $"f{uid}-{gid}";
            var hint = new FileMetadataHint(0x1A4, uid, gid, time, time, "dir/" + name);
            await store.WriteAsync(new MemoryStream([1]), 1, hint, CancellationToken.None);
            var status = FileSystemProbe.Stat(System.IO.Path.Combine(target, "dir", name));
            Assert.Equal(((uint)uid, (uint)gid), (status.Uid, status.Gid));
        }
    }
}
