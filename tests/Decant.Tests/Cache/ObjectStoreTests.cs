using Decant.Cache;
using Decant.Model;
using Decant.Tests.Support;

namespace Decant.Tests.Cache;

/// <summary>The cache's content objects: named by fs-verity digest (checked by fsverity-utils), deduplicated, atomic, and clean after faults, written as unnamed files (O_TMPFILE) or under private names.</summary>
public class ObjectStoreTests
{
    private static byte[] Content(int size, int seed)
    {
        byte[] bytes = new byte[size];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task AnObjectIsNamedByItsFsVerityDigestAndHoldsItsBytes(bool unnamedFiles)
    {
        using var scratch = new ScratchDirectory();
        var store = new ObjectStore(scratch.Path, unnamedFiles);
        byte[] content = Content(300_000, 1);

        var added = await store.AddAsync(new MemoryStream(content), content.Length, CancellationToken.None);

        Assert.False(added.AlreadyPresent);
        string path = store.PathOf(added.Digest);
        Assert.Equal(content, await File.ReadAllBytesAsync(path));
        var oracle = (await Tools.RunCheckedAsync("fsverity", ["digest", path], CancellationToken.None)).StandardOutput.Split(' ')[0];
        Assert.Equal(oracle, added.Digest);
        Assert.Equal(Path.Combine(scratch.Path, "objects", added.Digest[7..9], added.Digest[9..]), path);
        Assert.Empty(Directory.GetFileSystemEntries(scratch.Combine("tmp")));
        using var handle = store.TryOpen(added.Digest);
        Assert.NotNull(handle);
        Assert.Equal(content.Length, RandomAccess.GetLength(handle));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task TheSameContentIsStoredOnceEvenWhenAddedAtOnce(bool unnamedFiles)
    {
        using var scratch = new ScratchDirectory();
        var store = new ObjectStore(scratch.Path, unnamedFiles);
        byte[] content = Content(2_000_000, 2);

        var results = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(() => store.AddAsync(new MemoryStream(content), content.Length, CancellationToken.None))));

        Assert.Single(results.Select(r => r.Digest).Distinct());
        Assert.Equal(1, results.Count(r => !r.AlreadyPresent));
        Assert.Single(Directory.GetFiles(scratch.Combine("objects"), "*", SearchOption.AllDirectories));
        Assert.Empty(Directory.GetFileSystemEntries(scratch.Combine("tmp")));
        var again = await store.AddAsync(new MemoryStream(content), content.Length, CancellationToken.None);
        Assert.True(again.AlreadyPresent);
    }

    [Fact]
    public async Task AShortStreamStoresNothing()
    {
        using var scratch = new ScratchDirectory();
        var store = new ObjectStore(scratch.Path);

        var error = await Assert.ThrowsAsync<DecantException>(() => store.AddAsync(new MemoryStream(new byte[100]), 101, CancellationToken.None));

        Assert.Equal(DecantErrorKind.InvalidLayer, error.Kind);
        Assert.Contains("after 100 of 101 bytes", error.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFileSystemEntries(scratch.Combine("tmp")));
        Assert.Empty(Directory.GetFileSystemEntries(scratch.Combine("objects")));
    }

    /// <summary>A store on a 1 MiB tmpfs: a 4 MiB object fills it, which is an I/O error that leaves neither a partial object nor a temporary file.</summary>
    [Fact]
    public async Task AFullDiskIsAClearErrorAndLeavesNothingBehind()
    {
        using var scratch = new ScratchDirectory();
        string mount = scratch.Combine("small");
        Directory.CreateDirectory(mount);
        await Tools.RunCheckedAsync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", mount], CancellationToken.None);
        try
        {
            var store = new ObjectStore(mount);
            byte[] content = Content(4 << 20, 3);

            var error = await Assert.ThrowsAsync<DecantException>(() => store.AddAsync(new MemoryStream(content), content.Length, CancellationToken.None));

            Assert.Equal(DecantErrorKind.IOError, error.Kind);
            Assert.Contains("cannot store content in the cache", error.Message, StringComparison.Ordinal);
            Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(mount, "tmp")));
            Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(mount, "objects")));
        }
        finally
        {
            await Tools.RunCheckedAsync("umount", [mount], CancellationToken.None);
        }
    }

    [Fact]
    public async Task LeftoversOfDeadProcessesAreRemovedAndLiveOnesKept()
    {
        using var scratch = new ScratchDirectory();
        var store = new ObjectStore(scratch.Path);
        using var finished = System.Diagnostics.Process.Start("true")!;
        await finished.WaitForExitAsync();
        string dead = scratch.Combine("tmp", $"{finished.Id}.{Guid.NewGuid():N}");
        string live = scratch.Combine("tmp", $"{Environment.ProcessId}.{Guid.NewGuid():N}");
        await File.WriteAllTextAsync(dead, "half an object");
        await File.WriteAllTextAsync(live, "being written");

        Assert.Equal(1, store.RemoveLeftovers());

        Assert.False(File.Exists(dead));
        Assert.True(File.Exists(live));
    }

    [Fact]
    public async Task AFlippedByteIsFoundByVerify()
    {
        using var scratch = new ScratchDirectory();
        var store = new ObjectStore(scratch.Path);
        byte[] content = Content(10_000, 4);
        var added = await store.AddAsync(new MemoryStream(content), content.Length, CancellationToken.None);
        Assert.True(await store.VerifyAsync(added.Digest, CancellationToken.None));

        content[5_000] ^= 0x01;
        await File.WriteAllBytesAsync(store.PathOf(added.Digest), content);

        Assert.False(await store.VerifyAsync(added.Digest, CancellationToken.None));
        Assert.False(await store.VerifyAsync("sha256:" + new string('0', 64), CancellationToken.None));
    }
}
