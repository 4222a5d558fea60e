using System.Text;
using Decant.Interop;
using Decant.Layers;
using Decant.Model;
using Decant.Tree;
using Decant.Writers;
using Decant.Writers.Directory;
using static Decant.Tests.Interop.FileSystemProbe;

namespace Decant.Tests.Writers.Directory;

public sealed class DirectoryWriterTests : IDisposable
{
    private readonly GuardedTarget _guard = new();
    private string Target => _guard.Target;

    public void Dispose() => _guard.Dispose();

    private static CancellationToken Ct => CancellationToken.None;

    private Task<DirectoryWriter> CreateWriter(OwnershipMode ownership = OwnershipMode.Preserve, bool force = false) =>
        DirectoryWriter.CreateAsync(new DirectoryWriterOptions { Output = Target, Force = force, Ownership = ownership }, Ct);

    private static async Task<ContentRef> Store(DirectoryWriter writer, byte[] bytes) =>
        await writer.Content.WriteAsync(new MemoryStream(bytes), bytes.Length, Ct);

    private string At(string relative) => _guard.At(relative);

    private void AssertSentinelUntouched() => _guard.AssertSentinelUntouched();

    private static void AssertTimes(string path, Inode inode)
    {
        var st = Stat(path);
        Assert.Equal((inode.ModificationTime.Seconds, inode.ModificationTime.Nanoseconds), (st.ModificationTime.Seconds, st.ModificationTime.Nanoseconds));
        Assert.Equal((inode.AccessTime.Seconds, inode.AccessTime.Nanoseconds), (st.AccessTime.Seconds, st.AccessTime.Nanoseconds));
    }

    private static void AssertOwner(string path, uint uid, uint gid)
    {
        var st = Stat(path);
        Assert.Equal((uid, gid), (st.Uid, st.Gid));
    }

    [Fact]
    public async Task WritesEveryKindWithExactOwnersModesXattrsAndTimes()
    {
        Assert.Equal(0u, LibC.GetEffectiveUserId()); // preserve mode needs root; fail loudly otherwise

        var tree = new TreeBuilder(TestInodes.Directory(0x1ED, 0, 0));
        var usr = tree.Add("usr", TestInodes.Directory(0x1E8, 10, 20)); // 0750
        var tmp = tree.Add("tmp", TestInodes.Directory(0x3FF)); // 01777
        tmp.Inode.Xattrs = [new("user.dir", "d"u8.ToArray())];
        await using var writer = await CreateWriter();
        var suid = tree.Add("usr/su", TestInodes.File(await Store(writer, "#!/bin/su\n"u8.ToArray()), 0x9ED)); // 04755
        var sgid = tree.Add("usr/sg", TestInodes.File(await Store(writer, "group"u8.ToArray()), 0x5ED, 1000, 1000)); // 02755
        sgid.Inode.Xattrs = [new("user.note", "hello"u8.ToArray()), new("trusted.overlay.x", [1, 2, 0, 3]), new("security.capability", Capability())];
        var empty = tree.Add("usr/empty", TestInodes.File(null, 0x180, 65534, 65534));
        var emptyStaged = tree.Add("usr/empty-staged", TestInodes.File(await Store(writer, []), 0x1A4));
        var link = tree.Add("usr/link", TestInodes.Symlink("../tmp/nowhere", 5, 6));
        link.Inode.Xattrs = [new("trusted.link", "t"u8.ToArray())];
        var fifo = tree.Add("tmp/fifo", TestInodes.Special(NodeKind.Fifo, 0x190, uid: 7, gid: 8)); // 0620
        var null_ = tree.Add("tmp/null", TestInodes.Special(NodeKind.CharDevice, 0x1B6, 1, 3)); // 0666
        var loop = tree.Add("tmp/loop", TestInodes.Special(NodeKind.BlockDevice, 0x1B0, 7, 300, 0, 6)); // 0660, minor > 255
        var deep = tree.Add("tmp/deep", TestInodes.Directory(0x16D)); // 0555: no write permission once finished
        tree.Add("tmp/deep/inner", TestInodes.File(await Store(writer, "x"u8.ToArray()), 0x124)); // 0444

        var summary = await writer.CommitAsync(tree.Build(), Ct);

        Assert.Equal(new WriteSummary
        {
            Directories = 3, Files = 5, Symlinks = 1, Fifos = 1, Devices = 2, ContentBytes = 10 + 5 + 1,
        }, summary);
        Assert.Equal(0, writer.SkippedXattrs);

        Assert.Equal(LibC.S_IFDIR, FileType(Target));
        Assert.Equal(0x1EDu, Permissions(Target));
        AssertTimes(Target, tree.Build().Root.Inode);
        Assert.Equal(["tmp", "usr"], System.IO.Directory.GetFileSystemEntries(Target).Select(System.IO.Path.GetFileName).Order());

        Assert.Equal((LibC.S_IFDIR, 0x1E8u), (FileType(At("usr")), Permissions(At("usr"))));
        AssertOwner(At("usr"), 10, 20);
        AssertTimes(At("usr"), usr.Inode);
        Assert.Equal(0x3FFu, Permissions(At("tmp")));
        Assert.Equal("d"u8.ToArray(), Xattr(At("tmp"), "user.dir"));
        AssertTimes(At("tmp"), tmp.Inode);
        Assert.Equal(0x16Du, Permissions(At("tmp/deep")));
        AssertTimes(At("tmp/deep"), deep.Inode);

        Assert.Equal((LibC.S_IFREG, 0x9EDu), (FileType(At("usr/su")), Permissions(At("usr/su"))));
        AssertTimes(At("usr/su"), suid.Inode); // before reading, which moves atime
        Assert.Equal("#!/bin/su\n", File.ReadAllText(At("usr/su")));
        Assert.Equal(0x5EDu, Permissions(At("usr/sg")));
        AssertOwner(At("usr/sg"), 1000, 1000);
        Assert.Equal("hello"u8.ToArray(), Xattr(At("usr/sg"), "user.note"));
        Assert.Equal(new byte[] { 1, 2, 0, 3 }, Xattr(At("usr/sg"), "trusted.overlay.x"));
        Assert.Equal(Capability(), Xattr(At("usr/sg"), "security.capability")); // survives the chown because it comes after
        Assert.Equal((0x180u, 0ul), (Permissions(At("usr/empty")), Stat(At("usr/empty")).Size));
        AssertOwner(At("usr/empty"), 65534, 65534);
        AssertTimes(At("usr/empty"), empty.Inode);
        Assert.Equal(0ul, Stat(At("usr/empty-staged")).Size);
        AssertTimes(At("usr/empty-staged"), emptyStaged.Inode);
        Assert.Equal(0x124u, Permissions(At("tmp/deep/inner")));
        Assert.Equal("x", File.ReadAllText(At("tmp/deep/inner")));

        Assert.Equal(LibC.S_IFLNK, FileType(At("usr/link")));
        AssertTimes(At("usr/link"), link.Inode); // before readlink, which moves atime
        Assert.Equal("../tmp/nowhere", ReadLink(At("usr/link")));
        AssertOwner(At("usr/link"), 5, 6);
        Assert.Equal("t"u8.ToArray(), Xattr(At("usr/link"), "trusted.link"));

        Assert.Equal((LibC.S_IFIFO, 0x190u), (FileType(At("tmp/fifo")), Permissions(At("tmp/fifo"))));
        AssertOwner(At("tmp/fifo"), 7, 8);
        AssertTimes(At("tmp/fifo"), fifo.Inode);
        var nullStat = Stat(At("tmp/null"));
        Assert.Equal((LibC.S_IFCHR, 0x1B6u, 1u, 3u), (nullStat.Mode & LibC.S_IFMT, nullStat.Mode & 0xFFFu, nullStat.RdevMajor, nullStat.RdevMinor));
        AssertTimes(At("tmp/null"), null_.Inode);
        var loopStat = Stat(At("tmp/loop"));
        Assert.Equal((LibC.S_IFBLK, 0x1B0u, 7u, 300u, 6u), (loopStat.Mode & LibC.S_IFMT, loopStat.Mode & 0xFFFu, loopStat.RdevMajor, loopStat.RdevMinor, loopStat.Gid));
        AssertTimes(At("tmp/loop"), loop.Inode);

        Assert.DoesNotContain(System.IO.Directory.GetFileSystemEntries(Target), e => e.Contains(".decant-staging", StringComparison.Ordinal));
        AssertSentinelUntouched();
    }

    [Fact]
    public async Task HardlinkGroupsShareOneInode()
    {
        var tree = new TreeBuilder();
        tree.Add("a", TestInodes.Directory(0x1ED));
        tree.Add("b", TestInodes.Directory(0x1ED));
        await using var writer = await CreateWriter();
        var shared = TestInodes.File(await Store(writer, "shared bytes"u8.ToArray()), 0x1A4, 33, 44);
        var fifo = TestInodes.Special(NodeKind.Fifo, 0x1A4);
        tree.Add("a/one", shared);
        tree.Add("b/two", shared);
        tree.Add("three", shared);
        tree.Add("a/pipe", fifo);
        tree.Add("b/pipe", fifo);
        tree.Add("single", TestInodes.File(await Store(writer, "alone"u8.ToArray()), 0x1A4));

        var summary = await writer.CommitAsync(tree.Build(), Ct);

        Assert.Equal((3L, 2L, 1L), (summary.Hardlinks, summary.Files, summary.Fifos));
        Assert.Equal(3, shared.LinkCount);
        var inodes = new[] { "a/one", "b/two", "three" }.Select(p => Stat(At(p))).ToList();
        Assert.Single(inodes.Select(s => s.Inode).Distinct());
        Assert.All(inodes, s => Assert.Equal((3u, 33u, 44u), (s.LinkCount, s.Uid, s.Gid)));
        Assert.Equal("shared bytes", File.ReadAllText(At("b/two")));
        Assert.Equal(Stat(At("a/pipe")).Inode, Stat(At("b/pipe")).Inode);
        Assert.Equal(2u, Stat(At("b/pipe")).LinkCount);
        Assert.Equal(1u, Stat(At("single")).LinkCount);
    }

    [Fact]
    public async Task LargeContentRoundTripsAndZeroBlocksBecomeHoles()
    {
        var bytes = new byte[3 * StagingContentStore.BufferSize + 1234];
        Random.Shared.NextBytes(bytes.AsSpan(0, StagingContentStore.BufferSize));
        Random.Shared.NextBytes(bytes.AsSpan(2 * StagingContentStore.BufferSize + 4096, 100)); // data inside the third MiB
        bytes[^1] = 0x5A;
        var zeros = new byte[2 * StagingContentStore.BufferSize + 77];

        var tree = new TreeBuilder();
        await using var writer = await CreateWriter();
        tree.Add("mixed", TestInodes.File(await Store(writer, bytes), 0x1A4));
        tree.Add("zeros", TestInodes.File(await Store(writer, zeros), 0x1A4));
        var summary = await writer.CommitAsync(tree.Build(), Ct);

        Assert.Equal(bytes.Length + zeros.Length, summary.ContentBytes);
        Assert.Equal(bytes, File.ReadAllBytes(At("mixed")));
        Assert.Equal(zeros, File.ReadAllBytes(At("zeros")));
        // st_blocks counts 512-byte units actually allocated: the zero MiB and the zero file take none.
        Assert.True(Stat(At("mixed")).Blocks * 512 < (ulong)bytes.Length - (ulong)StagingContentStore.BufferSize / 2, "the zero MiB was written out");
        Assert.Equal(0ul, Stat(At("zeros")).Blocks);
    }

    [Fact]
    public async Task NonEmptyTargetIsRefusedWithoutForce()
    {
        System.IO.Directory.CreateDirectory(Target);
        File.WriteAllText(At("old"), "old");

        var error = await Assert.ThrowsAsync<DecantException>(() => CreateWriter());

        Assert.Equal(DecantErrorKind.OutputError, error.Kind);
        Assert.Contains(Target, error.Message, StringComparison.Ordinal);
        Assert.Equal(nameof(WriterOptions.Force), error.Setting);
        Assert.Equal("old", File.ReadAllText(At("old")));
    }

    [Fact]
    public async Task ForceReplacesTheTargetAtCommitWithoutFollowingSymlinks()
    {
        System.IO.Directory.CreateDirectory(At("old/deeper"));
        File.WriteAllText(At("old/deeper/file"), "old");
        File.CreateSymbolicLink(At("old/to-sentinel"), _guard.Sentinel);
        File.CreateSymbolicLink(At("sentinel-file"), _guard.SentinelFilePath);
        System.IO.Directory.CreateDirectory(At("locked"));
        SetPermissions(At("locked"), 0);

        var tree = new TreeBuilder();
        await using (var writer = await CreateWriter(force: true))
        {
            // The new tree is built beside the target, which stays as it was until the commit swaps it.
            Assert.Equal(["locked", "old", "sentinel-file"], System.IO.Directory.GetFileSystemEntries(Target).Select(System.IO.Path.GetFileName).Order(StringComparer.Ordinal));
            tree.Add("new", TestInodes.File(await Store(writer, "new"u8.ToArray()), 0x1A4));
            await writer.CommitAsync(tree.Build(), Ct);
        }

        Assert.Equal(["new"], System.IO.Directory.GetFileSystemEntries(Target).Select(System.IO.Path.GetFileName));
        Assert.Equal([Target], System.IO.Directory.GetFileSystemEntries(System.IO.Path.GetDirectoryName(Target)!).Where(p => p.Contains(System.IO.Path.GetFileName(Target), StringComparison.Ordinal)));
        AssertSentinelUntouched();
    }

    [Fact]
    public async Task DisposingWithoutCommitRemovesATargetItCreated()
    {
        await using (var writer = await CreateWriter())
        {
            await Store(writer, "abandoned"u8.ToArray());
            Assert.True(System.IO.Directory.Exists(Target));
        }

        Assert.False(Exists(Target));
        AssertSentinelUntouched();
    }

    [Fact]
    public async Task DisposingWithoutCommitLeavesAPreexistingEmptyTargetEmpty()
    {
        System.IO.Directory.CreateDirectory(Target);
        SetPermissions(Target, 0x1E8);

        await using (var writer = await CreateWriter())
        {
            await Store(writer, "abandoned"u8.ToArray());
        }

        Assert.True(System.IO.Directory.Exists(Target));
        Assert.Empty(System.IO.Directory.GetFileSystemEntries(Target));
        Assert.Equal(0x1E8u, Permissions(Target));
        AssertSentinelUntouched();
    }

    [Fact]
    public async Task AFailedCommitIsUndoneOnDispose()
    {
        var tree = new TreeBuilder();
        var shared = TestInodes.Directory(0x1ED);
        tree.Add("dir", shared);
        tree.Add("dir/file", TestInodes.File(null, 0x1A4));
        var unsafeTree = WithSecondPathToADirectory(tree.Build(), "again", shared); // a directory cannot have two paths

        await using (var writer = await CreateWriter())
        {
            var error = await Assert.ThrowsAsync<DecantException>(() => writer.CommitAsync(unsafeTree, Ct));
            Assert.Equal(DecantErrorKind.UnsafeLayer, error.Kind);
            Assert.Contains("\"again\"", error.Message, StringComparison.Ordinal);
        }

        Assert.False(Exists(Target));
        AssertSentinelUntouched();
    }

    /// <summary>
    /// Links <paramref name="directory"/>, already in <paramref name="tree"/>, again as the root's
    /// child <paramref name="name"/>. The public <see cref="TreeBuilder"/> refuses this on purpose
    /// ("a directory cannot be hardlinked"), and so does every layer rule, so the writer's own check
    /// can only be reached through the tree's internals: this is the tests' one such tree.
    /// </summary>
    private static MergedTree WithSecondPathToADirectory(MergedTree tree, string name, Inode directory)
    {
        tree.Root.SetChild(new TreeNode(name, tree.Root, directory));
        directory.LinkCount++;
        return tree;
    }

    [Fact]
    public async Task RootlessModeKeepsImageOwnersInUmociXattrAndSkipsDevices()
    {
        var tree = new TreeBuilder(TestInodes.Directory(0x1ED, 0, 0));
        await using var writer = await CreateWriter(OwnershipMode.Rootless);
        var d = tree.Add("d", TestInodes.Directory(0x1ED, 7, 8));
        tree.Add("root-owned", TestInodes.File(await Store(writer, "r"u8.ToArray()), 0x1A4, 0, 0));
        tree.Add("user-owned", TestInodes.File(await Store(writer, "u"u8.ToArray()), 0x9ED, 1000, 1000));
        tree.Add("uid-only", TestInodes.File(null, 0x1A4, 1234, 0));
        tree.Add("gid-only", TestInodes.File(null, 0x1A4, 0, 55));
        tree.Add("link", TestInodes.Symlink("user-owned", 9, 10));
        tree.Add("fifo", TestInodes.Special(NodeKind.Fifo, 0x1A4, uid: 3, gid: 3));
        var device = TestInodes.Special(NodeKind.CharDevice, 0x1B6, 1, 3);
        tree.Add("dev", device);
        tree.Add("dev-again", device);

        var summary = await writer.CommitAsync(tree.Build(), Ct);

        Assert.Equal((0L, 2L, 1L), (summary.Devices, summary.SkippedDevices, summary.Fifos));
        Assert.False(Exists(At("dev")));
        Assert.Equal(2, writer.SkippedXattrs); // the owners of the symlink and the fifo: user.* is refused there
        var self = LibC.GetEffectiveUserId();
        foreach (var name in new[] { "d", "root-owned", "user-owned", "uid-only", "gid-only", "link", "fifo" })
        {
            Assert.Equal(self, Stat(At(name)).Uid);
        }
        Assert.Null(Xattr(At("root-owned"), RootlessOwnerXattr.Name));
        Assert.Null(Xattr(Target, RootlessOwnerXattr.Name));
        Assert.Equal((7u, 8u), DecodeOwner(Xattr(At("d"), RootlessOwnerXattr.Name)));
        Assert.Equal((1000u, 1000u), DecodeOwner(Xattr(At("user-owned"), RootlessOwnerXattr.Name)));
        Assert.Equal((1234u, RootlessOwnerXattr.Unchanged), DecodeOwner(Xattr(At("uid-only"), RootlessOwnerXattr.Name)));
        Assert.Equal((RootlessOwnerXattr.Unchanged, 55u), DecodeOwner(Xattr(At("gid-only"), RootlessOwnerXattr.Name)));
        Assert.Empty(XattrNames(At("link")));
        Assert.Equal(0x9EDu, Permissions(At("user-owned")));
        AssertTimes(At("d"), d.Inode);
    }

    /// <summary>An independent protobuf reader: field 1 and 2 as varints, nothing else allowed.</summary>
    internal static (uint Uid, uint Gid) DecodeOwner(byte[]? value)
    {
        Assert.NotNull(value);
        uint uid = 0, gid = 0;
        var i = 0;
        while (i < value.Length)
        {
            var tag = value[i++];
            ulong number = 0;
            for (var shift = 0; ; shift += 7)
            {
                var b = value[i++];
                number |= (ulong)(b & 0x7F) << shift;
                if (b < 0x80)
                {
                    break;
                }
            }
            switch (tag)
            {
                case 0x08: uid = checked((uint)number); break;
                case 0x10: gid = checked((uint)number); break;
                default: Assert.Fail($"unexpected protobuf tag {tag:x2}"); break;
            }
        }
        return (uid, gid);
    }

    /// <summary>A valid VFS_CAP_REVISION_2 security.capability value granting cap_net_bind_service.</summary>
    private static byte[] Capability() => [0x01, 0x00, 0x00, 0x02, 0x00, 0x04, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

    [Fact]
    public async Task ContentOfAnotherStoreIsRejected()
    {
        await using var first = await CreateWriter();
        var foreign = await first.Content.WriteAsync(new MemoryStream(Encoding.UTF8.GetBytes("x")), 1, Ct);
        var otherTarget = _guard.Scratch("other");
        await using var second = await DirectoryWriter.CreateAsync(new DirectoryWriterOptions { Output = otherTarget }, Ct);

        await Assert.ThrowsAsync<ArgumentException>(() => second.Content.ReleaseAsync(foreign, Ct).AsTask());
    }
}
