using Decant.Interop;
using Decant.Tests.Support;
using static Decant.Tests.Interop.FileSystemProbe;

namespace Decant.Tests.Interop;

public sealed class TreeRemoverTests : IDisposable
{
    private readonly ScratchDirectory _scratch = new();

    public void Dispose() => _scratch.Dispose();

    [Fact]
    public void RemovesNestedContentButNeverWhatSymlinksPointAt()
    {
        var victim = _scratch.Combine("victim");
        Directory.CreateDirectory(System.IO.Path.Combine(victim, "dir"));
        File.WriteAllText(System.IO.Path.Combine(victim, "dir/file"), "keep");
        var doomed = _scratch.Combine("doomed");
        Directory.CreateDirectory(System.IO.Path.Combine(doomed, "a/b/c"));
        File.WriteAllText(System.IO.Path.Combine(doomed, "a/b/c/file"), "x");
        Directory.CreateSymbolicLink(System.IO.Path.Combine(doomed, "a/to-victim"), victim);
        Directory.CreateSymbolicLink(System.IO.Path.Combine(doomed, "a/b/to-victim-dir"), System.IO.Path.Combine(victim, "dir"));
        File.CreateSymbolicLink(System.IO.Path.Combine(doomed, "dangling"), "/nonexistent/target");
        Directory.CreateDirectory(System.IO.Path.Combine(doomed, "closed/inner"));
        SetPermissions(System.IO.Path.Combine(doomed, "closed/inner"), 0);
        SetPermissions(System.IO.Path.Combine(doomed, "closed"), 0);

        using (var handle = Posix.OpenAt(SafeFdHandle.CurrentDirectory, doomed, LibC.O_PATH | LibC.O_DIRECTORY, 0, doomed))
        {
            TreeRemover.RemoveContents(handle, doomed, CancellationToken.None);
        }

        Assert.Empty(Directory.GetFileSystemEntries(doomed));
        Assert.Equal("keep", File.ReadAllText(System.IO.Path.Combine(victim, "dir/file")));
    }

    [Fact]
    public void RemovesASingleEntryOfAnyKind()
    {
        var parentPath = _scratch.Combine("parent");
        Directory.CreateDirectory(System.IO.Path.Combine(parentPath, "tree/sub"));
        File.WriteAllText(System.IO.Path.Combine(parentPath, "file"), "x");
        using var parent = Posix.OpenAt(SafeFdHandle.CurrentDirectory, parentPath, LibC.O_PATH | LibC.O_DIRECTORY, 0, parentPath);

        TreeRemover.RemoveEntry(parent, "tree", "tree", CancellationToken.None);
        TreeRemover.RemoveEntry(parent, "file", "file", CancellationToken.None);
        TreeRemover.RemoveEntry(parent, "missing", "missing", CancellationToken.None);

        Assert.Empty(Directory.GetFileSystemEntries(parentPath));
    }
}
