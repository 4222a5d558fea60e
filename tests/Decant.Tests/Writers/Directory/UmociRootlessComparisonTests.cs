using System.Diagnostics;
using Decant.Interop;
using Decant.Tests.Interop;
using Decant.Tests.Support;
using Decant.Tree;
using Decant.Writers;
using Decant.Writers.Directory;
using static Decant.Tests.Interop.FileSystemProbe;

namespace Decant.Tests.Writers.Directory;

/// <summary>
/// Differential check against the reference unpacker: for the same owners, <c>umoci unpack
/// --rootless</c> and Decant's rootless mode must write byte-identical <c>user.rootlesscontainers</c>
/// values (and write none where umoci writes none). umoci must be installed; the test fails otherwise.
/// </summary>
public sealed class UmociRootlessComparisonTests : IDisposable
{
    private static readonly (string Path, bool Directory, uint Uid, uint Gid)[] Entries =
    [
        ("root-owned", false, 0, 0),
        ("user", false, 1000, 1000),
        ("uid-only", false, 1234, 0),
        ("gid-only", false, 0, 55),
        ("big-ids", false, 3_000_000_000, 70000),
        ("dir", true, 7, 8),
        ("dir/nobody", false, 65534, 65534),
        ("root-dir", true, 0, 0),
    ];

    private readonly ScratchDirectory _scratch = new();

    public void Dispose() => _scratch.Dispose();

    [Fact]
    public async Task OwnerXattrsMatchUmociByteForByte()
    {
        var umociRootfs = await UnpackWithUmociAsync();
        var ours = _scratch.Combine("ours");
        var tree = new TreeBuilder();
        await using (var writer = await DirectoryWriter.CreateAsync(new DirectoryWriterOptions { Output = ours, Ownership = OwnershipMode.Rootless }, CancellationToken.None))
        {
            foreach (var (path, isDirectory, uid, gid) in Entries)
            {
                tree.Add(path, isDirectory ? TestInodes.Directory(0x1ED, uid, gid) : TestInodes.File(null, 0x1A4, uid, gid));
            }
            await writer.CommitAsync(tree.Build(), CancellationToken.None);
        }

        foreach (var (path, _, uid, gid) in Entries)
        {
            var theirs = Xattr(System.IO.Path.Combine(umociRootfs, path), RootlessOwnerXattr.Name);
            var mine = Xattr(System.IO.Path.Combine(ours, path), RootlessOwnerXattr.Name);
            Assert.True(theirs is null == (uid == 0 && gid == 0), $"umoci's xattr presence on {path} is not what the test expects");
            Assert.Equal(theirs is null ? null : Convert.ToHexString(theirs), mine is null ? null : Convert.ToHexString(mine));
        }
    }

    /// <summary>Builds a one-layer image whose files carry <see cref="Entries"/>' owners, then unpacks it rootless.</summary>
    private async Task<string> UnpackWithUmociAsync()
    {
        var layout = _scratch.Combine("layout");
        var bundle = _scratch.Combine("bundle");
        var unpacked = _scratch.Combine("unpacked");
        await RunUmociAsync("init", "--layout", layout);
        await RunUmociAsync("new", "--image", layout + ":t");
        await RunUmociAsync("unpack", "--image", layout + ":t", bundle);
        var rootfs = System.IO.Path.Combine(bundle, "rootfs");
        foreach (var (path, isDirectory, uid, gid) in Entries)
        {
            var full = System.IO.Path.Combine(rootfs, path);
            if (isDirectory)
            {
                System.IO.Directory.CreateDirectory(full);
            }
            else
            {
                File.WriteAllText(full, path);
            }
            Posix.Check(LibC.FchownAt(SafeFdHandle.CurrentDirectory, full, uid, gid, LibC.AT_SYMLINK_NOFOLLOW), "chown", full);
        }
        await RunUmociAsync("repack", "--image", layout + ":t", bundle);
        await RunUmociAsync("unpack", "--rootless", "--image", layout + ":t", unpacked);
        return System.IO.Path.Combine(unpacked, "rootfs");
    }

    private static async Task RunUmociAsync(params string[] arguments)
    {
        var start = new ProcessStartInfo("umoci") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        using var process = Process.Start(start) ?? throw new InvalidOperationException("umoci did not start");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, $"umoci {string.Join(' ', arguments)} exited {process.ExitCode}: {await stderr}{await stdout}");
    }
}
