using Decant.Interop;
using Decant.Model;
using Decant.Tests.Support;
using static Decant.Tests.Interop.FileSystemProbe;

namespace Decant.Tests.Interop;

/// <summary>
/// The kernel confinement every writer path goes through, tested with both resolvers: openat2 and
/// the component walk used where openat2 is missing.
/// </summary>
public sealed class ConfinedRootTests : IDisposable
{
    private readonly ScratchDirectory _scratch = new();
    private readonly string _root;
    private readonly string _outside;

    public ConfinedRootTests()
    {
        _root = _scratch.Combine("root");
        _outside = _scratch.Combine("outside");
        Directory.CreateDirectory(_outside);
        Directory.CreateDirectory(System.IO.Path.Combine(_root, "real/sub"));
        Directory.CreateSymbolicLink(System.IO.Path.Combine(_root, "absolute"), _outside);
        Directory.CreateSymbolicLink(System.IO.Path.Combine(_root, "relative"), "../outside");
        Directory.CreateSymbolicLink(System.IO.Path.Combine(_root, "real/up"), "..");
        Directory.CreateSymbolicLink(System.IO.Path.Combine(_root, "inside"), "real");
    }

    public void Dispose() => _scratch.Dispose();

    public static TheoryData<bool> Resolvers => new() { false, true };

    private ConfinedRoot OpenRoot(bool walkComponents) => ConfinedRoot.Open(_root, walkComponents);

    [Theory]
    [MemberData(nameof(Resolvers))]
    public void OpensRealDirectoriesInsideTheRoot(bool walkComponents)
    {
        using var root = OpenRoot(walkComponents);
        using var sub = root.OpenDirectory("real/sub");
        using var top = root.OpenDirectoryForMetadata("");

        Assert.Equal(Stat(System.IO.Path.Combine(_root, "real/sub")).Inode, Posix.Stat(sub, "sub").Inode);
        Assert.Equal(Stat(_root).Inode, Posix.Stat(top, "root").Inode);
    }

    [Theory]
    [InlineData("absolute", false)]
    [InlineData("absolute", true)]
    [InlineData("relative", false)]
    [InlineData("relative", true)]
    [InlineData("real/up", false)]
    [InlineData("real/up", true)]
    [InlineData("real/up/real", false)]
    [InlineData("real/up/real", true)]
    [InlineData("inside", false)] // even a symlink that stays inside: the writer never made one on a directory path
    [InlineData("inside/sub", true)]
    public void RefusesEverySymlinkOnTheWay(string path, bool walkComponents)
    {
        using var root = OpenRoot(walkComponents);

        var error = Assert.Throws<NativeIOException>(() => root.OpenDirectory(path).Dispose());

        Assert.Equal(DecantErrorKind.OutputError, error.Kind);
        Assert.Contains(path, error.Message, StringComparison.Ordinal);
        Assert.Contains(error.Errno, new[] { LibC.ELOOP, LibC.ENOTDIR });
    }

    [Fact]
    public void DotDotStopsAtTheRootWithOpenat2()
    {
        using var root = OpenRoot(walkComponents: false);

        using var resolved = root.OpenDirectory("real/../../..");

        Assert.Equal(Stat(_root).Inode, Posix.Stat(resolved, "resolved").Inode);
    }

    [Fact]
    public void DotDotIsRefusedByTheComponentWalk()
    {
        using var root = OpenRoot(walkComponents: true);

        var error = Assert.Throws<DecantException>(() => root.OpenDirectory("real/../..").Dispose());

        Assert.Equal(DecantErrorKind.OutputError, error.Kind);
    }

    [Fact]
    public void CreationThroughAResolvedParentStaysInside()
    {
        using var root = OpenRoot(walkComponents: false);
        using var parent = root.OpenDirectory("real");

        Posix.MkdirAt(parent, "made", 0x1ED, "real/made");

        Assert.True(Directory.Exists(System.IO.Path.Combine(_root, "real/made")));
        Assert.Empty(Directory.GetFileSystemEntries(_outside));
    }
}
