using Decant.Interop;
using Decant.Model;
using Decant.Tree;
using Decant.Writers;
using Decant.Writers.Directory;
using static Decant.Tests.Interop.FileSystemProbe;

namespace Decant.Tests.Writers.Directory;

/// <summary>
/// What happens when something swaps a path inside the target while the writer works (a race or an
/// attack): the write must fail, and nothing outside the target may change.
/// </summary>
public sealed class WriterConfinementTests : IDisposable
{
    private readonly GuardedTarget _guard = new();

    public WriterConfinementTests()
    {
        System.IO.Directory.CreateDirectory(Target);
    }

    private string Target => _guard.Target;

    private string Outside => _guard.Sentinel;

    public void Dispose() => _guard.Dispose();

    public static TheoryData<bool> Resolvers => new() { false, true };

    private void AssertOutsideUntouched() => _guard.AssertSentinelUntouched();

    [Theory]
    [MemberData(nameof(Resolvers))]
    public void ADirectorySwappedForASymlinkMidwayStopsTheWrite(bool walkComponents)
    {
        var tree = new TreeBuilder();
        var etc = tree.Add("etc", TestInodes.Directory(0x1ED));
        var passwd = tree.Add("etc/passwd", TestInodes.File(null, 0x1A4));
        using var root = new ConfinedRoot(Posix.OpenAt(SafeFdHandle.CurrentDirectory, Target, LibC.O_PATH | LibC.O_DIRECTORY, 0, Target), Target, walkComponents);
        using var store = CreateStore(root);
        using var parents = new DirectoryHandleCache(root);
        var materializer = new TreeMaterializer(root, store, OwnershipMode.Preserve, parents);
        materializer.Create(tree.Build().Root, CancellationToken.None);
        materializer.Create(etc, CancellationToken.None);

        // The attack: "etc" becomes a symlink to a directory outside before its child is written.
        System.IO.Directory.Delete(System.IO.Path.Combine(Target, "etc"));
        System.IO.Directory.CreateSymbolicLink(System.IO.Path.Combine(Target, "etc"), Outside);
        var error = Assert.Throws<NativeIOException>(() => materializer.Create(passwd, CancellationToken.None));

        Assert.Equal(DecantErrorKind.OutputError, error.Kind);
        Assert.Contains("etc", error.Message, StringComparison.Ordinal);
        AssertOutsideUntouched();
    }

    [Theory]
    [MemberData(nameof(Resolvers))]
    public async Task ADirectorySwappedForASymlinkBeforeTheStagedFilesAreRenamedStopsTheRename(bool walkComponents)
    {
        using var root = new ConfinedRoot(Posix.OpenAt(SafeFdHandle.CurrentDirectory, Target, LibC.O_PATH | LibC.O_DIRECTORY, 0, Target), Target, walkComponents);
        using var store = CreateStore(root);
        var content = await store.WriteAsync(new MemoryStream([1, 2, 3]), 3, CancellationToken.None);
        var tree = new TreeBuilder();
        var etc = tree.Add("etc", TestInodes.Directory(0x1ED));
        var passwd = tree.Add("etc/passwd", TestInodes.File(content, 0x1A4));
        using var parents = new DirectoryHandleCache(root);
        using var materializer = new TreeMaterializer(root, store, OwnershipMode.Preserve, parents);
        materializer.Create(tree.Build().Root, CancellationToken.None);
        materializer.Create(etc, CancellationToken.None);
        materializer.Create(passwd, CancellationToken.None); // noted; renamed into place by Finish

        // The attack: "etc" becomes a symlink to a directory outside between the walk and the renames.
        System.IO.Directory.Delete(System.IO.Path.Combine(Target, "etc"));
        System.IO.Directory.CreateSymbolicLink(System.IO.Path.Combine(Target, "etc"), Outside);
        var error = Assert.Throws<NativeIOException>(() => materializer.Finish(CancellationToken.None));

        Assert.Equal(DecantErrorKind.OutputError, error.Kind);
        Assert.Contains("etc", error.Message, StringComparison.Ordinal);
        AssertOutsideUntouched();
    }

    [Fact]
    public void MetadataIsAppliedToASymlinkItselfNeverToItsTarget()
    {
        var victim = _guard.SentinelFilePath;
        System.IO.File.CreateSymbolicLink(System.IO.Path.Combine(Target, "link"), victim);
        var link = TestInodes.Symlink(victim, 4321, 8765);
        link.Xattrs = [new("trusted.mark", [1])];
        using var parent = Posix.OpenAt(SafeFdHandle.CurrentDirectory, Target, LibC.O_PATH | LibC.O_DIRECTORY, 0, Target);

        new MetadataApplier(OwnershipMode.Preserve).ApplyByName(parent, "link", link, "link");

        var st = Stat(System.IO.Path.Combine(Target, "link"));
        Assert.Equal((4321u, 8765u), (st.Uid, st.Gid));
        Assert.Equal([1], Xattr(System.IO.Path.Combine(Target, "link"), "trusted.mark"));
        Assert.Null(Xattr(victim, "trusted.mark"));
        AssertOutsideUntouched();
    }

    [Fact]
    public void AFifoSwappedForASymlinkIsNotChmoddedThroughIt()
    {
        var victim = _guard.SentinelFilePath;
        System.IO.File.CreateSymbolicLink(System.IO.Path.Combine(Target, "fifo"), victim);
        var fifo = TestInodes.Special(NodeKind.Fifo, 0xFFF);
        using var parent = Posix.OpenAt(SafeFdHandle.CurrentDirectory, Target, LibC.O_PATH | LibC.O_DIRECTORY, 0, Target);

        var error = Assert.Throws<NativeIOException>(() => new MetadataApplier(OwnershipMode.Rootless).ApplyByName(parent, "fifo", fifo, "fifo"));

        Assert.Equal("fchmodat", error.Operation);
        AssertOutsideUntouched();
    }

    [Fact]
    public async Task ASymlinkPlantedAtADirectoryPathFailsTheCommit()
    {
        var tree = new TreeBuilder();
        await using var writer = await DirectoryWriter.CreateAsync(new DirectoryWriterOptions { Output = Target }, CancellationToken.None);
        tree.Add("dir", TestInodes.Directory(0x1ED));
        // The attacker plants "dir" first: the writer's mkdir must not adopt it.
        System.IO.Directory.CreateSymbolicLink(System.IO.Path.Combine(Target, "dir"), Outside);

        var error = await Assert.ThrowsAsync<NativeIOException>(() => writer.CommitAsync(tree.Build(), CancellationToken.None));

        Assert.Equal(LibC.EEXIST, error.Errno);
        AssertOutsideUntouched();
    }

    private static StagingContentStore CreateStore(ConfinedRoot root) => StagingContentStore.Create(root, OwnershipMode.Preserve);
}
