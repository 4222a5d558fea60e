using System.Security.Cryptography;
using System.Text;
using Decant.Tests.Support;

namespace Decant.Tests.Infra;

/// <summary>TreeSnapshot against a small tree made here with real syscalls and tools (mkfifo, mknod, setfattr).</summary>
public sealed class TreeSnapshotTests : IAsyncLifetime, IDisposable
{
    private readonly string root = Directory.CreateTempSubdirectory("decant-snapshot-").FullName;
    private readonly CancellationTokenSource timeout = new(TimeSpan.FromMinutes(1));

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        // rm, not Directory.Delete: .NET cannot name a file whose name is not UTF-8.
        await Tools.RunCheckedAsync("rm", ["-rf", "--", root], CancellationToken.None);
    }

    public void Dispose() => timeout.Dispose();

    private CancellationToken Token => timeout.Token;

    private string At(string relative) => Path.Combine(root, relative);

    private async Task ShAsync(string script) => await Tools.RunCheckedAsync("bash", ["-c", script], Token, root);

    private async Task<TreeSnapshot> BuildSampleTreeAsync()
    {
        Directory.CreateDirectory(At("dir/sub"));
        await File.WriteAllTextAsync(At("dir/file.txt"), "hello", Token);
        File.CreateSymbolicLink(At("dir/abs-link"), "/etc");
        File.CreateSymbolicLink(At("dir/rel-link"), "sub");
        await File.WriteAllTextAsync(At("shared"), "linked", Token);
        await ShAsync("""
            chmod 4700 dir/file.txt
            ln shared dir/sub/second-name
            mkfifo dir/fifo
            mknod dir/null c 1 3
            setfattr -n user.b -v 0x0102ff shared
            setfattr -n user.a -v text shared
            chown 1000:2000 dir/sub
            touch -h -d @1234567890.5 dir/rel-link
            printf x > $'bad-\xff-name'
            printf y > $'tab\tname\\'
            """);
        return await TreeSnapshot.CaptureAsync(root, cancellationToken: Token);
    }

    [Fact]
    public async Task RecordsEveryFieldOfEachTypeWithoutFollowingSymlinks()
    {
        var snapshot = await BuildSampleTreeAsync();

        Assert.Equal(
            ["/", "/bad-\\xff-name", "/dir", "/dir/abs-link", "/dir/fifo", "/dir/file.txt", "/dir/null", "/dir/rel-link", "/dir/sub", "/dir/sub/second-name", "/shared", "/tab\\x09name\\\\"],
            snapshot.Entries.Keys);

        var file = snapshot["/dir/file.txt"];
        Assert.Equal(SnapshotEntryType.RegularFile, file.Type);
        Assert.Equal("4700", file.OctalMode);
        Assert.Equal(5, file.Size);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData("hello"u8)), file.ContentSha256);

        var absolute = snapshot["/dir/abs-link"];
        Assert.Equal(SnapshotEntryType.Symlink, absolute.Type);
        Assert.Equal("/etc", absolute.SymlinkTarget);
        Assert.Null(absolute.ContentSha256);
        var relative = snapshot["/dir/rel-link"];
        Assert.Equal("sub", relative.SymlinkTarget);
        Assert.Equal(new Decant.Model.Timestamp(1234567890, 500_000_000), relative.ModificationTime);

        Assert.Equal(SnapshotEntryType.Fifo, snapshot["/dir/fifo"].Type);
        var device = snapshot["/dir/null"];
        Assert.Equal(SnapshotEntryType.CharDevice, device.Type);
        Assert.Equal((1u, 3u), (device.DeviceMajor, device.DeviceMinor));

        var sub = snapshot["/dir/sub"];
        Assert.Equal(SnapshotEntryType.Directory, sub.Type);
        Assert.Equal((1000L, 2000L), (sub.Uid, sub.Gid));

        Assert.Equal(["/dir/sub/second-name", "/shared"], snapshot["/shared"].HardlinkGroup);
        Assert.Equal(["/dir/sub/second-name", "/shared"], snapshot["/dir/sub/second-name"].HardlinkGroup);
        Assert.Empty(file.HardlinkGroup);

        Assert.Equal(["user.a", "user.b"], snapshot["/shared"].Xattrs.Keys);
        Assert.Equal(Convert.ToHexStringLower(Encoding.ASCII.GetBytes("text")), snapshot["/shared"].Xattrs["user.a"]);
        Assert.Equal("0102ff", snapshot["/shared"].Xattrs["user.b"]);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData("x"u8)), snapshot["/bad-\\xff-name"].ContentSha256);
    }

    [Fact]
    public async Task DroppedXattrsAreLeftOut()
    {
        await File.WriteAllTextAsync(At("f"), "", Token);
        await ShAsync("setfattr -n user.keep -v 1 f && setfattr -n user.drop -v 2 f");

        var snapshot = await TreeSnapshot.CaptureAsync(root, new TreeSnapshotOptions { DroppedXattrs = new HashSet<string> { "user.drop" } }, Token);

        Assert.Equal(["user.keep"], snapshot["/f"].Xattrs.Keys);
    }

    [Fact]
    public async Task SnapshotsOfAnUnchangedTreeAreEqual()
    {
        var first = await BuildSampleTreeAsync();
        var second = await TreeSnapshot.CaptureAsync(root, cancellationToken: Token);

        Assert.Empty(TreeSnapshot.Diff(first, second));
        TreeSnapshotAssert.Equal(first, second);
    }

    [Fact]
    public async Task DiffNamesThePathAndFieldOfEachChange()
    {
        var before = await BuildSampleTreeAsync();
        await ShAsync("""
            chmod 0600 dir/file.txt
            echo changed > dir/sub/second-name
            rm dir/fifo
            ln -sfn elsewhere dir/rel-link
            chown 0:0 dir/sub
            setfattr -x user.b shared
            touch new-file
            """);
        var after = await TreeSnapshot.CaptureAsync(root, cancellationToken: Token);

        var differences = TreeSnapshot.Diff(before, after);

        Assert.Contains("/dir/file.txt: mode 4700 vs 0600", differences);
        Assert.Contains("/dir/fifo: only in a", differences);
        Assert.Contains("/new-file: only in b", differences);
        Assert.Contains("/dir/rel-link: symlink target sub vs elsewhere", differences);
        Assert.Contains("/dir/sub: uid 1000 vs 0", differences);
        Assert.Contains("/dir/sub: gid 2000 vs 0", differences);
        Assert.Contains("/shared: xattr user.b 0102ff vs (none)", differences);
        Assert.Contains(differences, d => d.StartsWith("/shared: sha256 ", StringComparison.Ordinal));
        Assert.Contains(differences, d => d.StartsWith("/dir/sub/second-name: size 6 vs 8", StringComparison.Ordinal));
        var failure = Assert.ThrowsAny<Exception>(() => TreeSnapshotAssert.Equal(before, after));
        Assert.Contains("/dir/file.txt: mode 4700 vs 0600", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DiffComparesHardlinkGroupsNotInodes()
    {
        var before = await BuildSampleTreeAsync();
        // Re-creating both names as one new inode keeps the group: no difference.
        await ShAsync("rm shared dir/sub/second-name && printf linked > shared && ln shared dir/sub/second-name && setfattr -n user.b -v 0x0102ff shared && setfattr -n user.a -v text shared");
        var regrouped = await TreeSnapshot.CaptureAsync(root, cancellationToken: Token);
        Assert.Empty(TreeSnapshot.Diff(before, regrouped, new SnapshotCompareOptions().Ignore("**", SnapshotField.Mtime)));

        // Splitting the group is reported on both of its paths.
        await ShAsync("rm dir/sub/second-name && cp -a shared dir/sub/second-name");
        var split = await TreeSnapshot.CaptureAsync(root, cancellationToken: Token);
        var differences = TreeSnapshot.Diff(regrouped, split, new SnapshotCompareOptions().Ignore("**", SnapshotField.Mtime));
        Assert.Equal(
            ["/dir/sub/second-name: hardlinks [/dir/sub/second-name, /shared] vs []", "/shared: hardlinks [/dir/sub/second-name, /shared] vs []"],
            differences);
    }

    [Fact]
    public async Task IgnoreRulesApplyToMatchingPathsOnly()
    {
        var before = await BuildSampleTreeAsync();
        await ShAsync("chmod 0644 dir/file.txt && chmod 0600 shared && rm dir/null && touch dir/null && setfattr -n user.c -v 3 shared");
        var after = await TreeSnapshot.CaptureAsync(root, cancellationToken: Token);

        var options = new SnapshotCompareOptions()
            .Ignore("/dir/*", SnapshotField.Mode | SnapshotField.Type | SnapshotField.Device | SnapshotField.Content | SnapshotField.Mtime)
            .Ignore("/dir", SnapshotField.Mtime)
            .IgnoreXattr("user.c");

        // The chmod of /shared shows on its hardlink too: the snapshot reads each name's own inode.
        Assert.Equal(
            [$"/dir/sub/second-name: mode {before["/shared"].OctalMode} vs 0600", $"/shared: mode {before["/shared"].OctalMode} vs 0600"],
            TreeSnapshot.Diff(before, after, options));
        Assert.Contains("/dir/**", new SnapshotCompareOptions().Ignore("/dir/**", SnapshotField.All).ToString(), StringComparison.Ordinal);
        Assert.Empty(TreeSnapshot.Diff(before, after, new SnapshotCompareOptions().Ignore("**", SnapshotField.All)));
    }

    [Fact]
    public async Task DoesNotDescendIntoASymlinkedRoot()
    {
        Directory.CreateDirectory(At("real"));
        await File.WriteAllTextAsync(At("real/inside"), "x", Token);
        File.CreateSymbolicLink(At("link"), "real");

        var snapshot = await TreeSnapshot.CaptureAsync(At("link"), cancellationToken: Token);

        Assert.Equal(["/"], snapshot.Entries.Keys);
        Assert.Equal(SnapshotEntryType.Symlink, snapshot["/"].Type);
    }
}
