using System.Text;
using Decant.Model;
using Decant.Tests.Conformance;
using Decant.Tests.Support;
using Decant.Tree;
using Decant.Writers;
using Decant.Writers.Ext4;
using Decant.Writers.Tar;

namespace Decant.Tests.Tree;

/// <summary>A host-built tree (no layers) through the public writer API: tree in, ext4 or tar out.</summary>
public class TreeBuilderTests
{
    private static async Task<MergedTree> BuildAsync(IContentStore store)
    {
        var builder = new TreeBuilder();
        builder.Add("etc", new Inode { Kind = NodeKind.Directory, Mode = 0b111_101_101 });
        var content = await store.WriteAsync(new MemoryStream(Encoding.UTF8.GetBytes("hello\n")), 6, CancellationToken.None);
        var file = new Inode { Kind = NodeKind.RegularFile, Mode = 0b110_100_100, Uid = 1000, Gid = 1000, Content = content };
        builder.Add("etc/greeting", file);
        builder.Add("etc/same", file);
        builder.Add("link", new Inode { Kind = NodeKind.Symlink, Mode = 0b111_111_111, SymlinkTarget = "etc/greeting" });
        return builder.Build();
    }

    [Fact]
    public async Task AHostBuiltTreeBecomesACleanExt4Image()
    {
        using var scratch = new ScratchDirectory();
        string image = scratch.Combine("host.ext4");
        await using (var writer = await OutputFormat.Ext4.CreateWriterAsync(new Ext4WriterOptions { Output = image, Seed = [1, 2, 3] }))
        {
            await writer.CommitAsync(await BuildAsync(writer.Content), CancellationToken.None);
        }
        var fsck = await Tools.RunAsync("e2fsck", ["-fn", image], CancellationToken.None);
        Assert.True(fsck.ExitCode == 0, fsck.StandardOutput + fsck.StandardError);
        var cat = await Tools.RunCheckedAsync("debugfs", ["-R", "cat /etc/same", image], CancellationToken.None);
        Assert.Equal("hello\n", cat.StandardOutput);
    }

    [Fact]
    public async Task AHostBuiltTreeBecomesATar()
    {
        using var scratch = new ScratchDirectory();
        string tar = scratch.Combine("host.tar");
        await using (var writer = await OutputFormat.Tar.CreateWriterAsync(new TarWriterOptions { Output = tar }))
        {
            await writer.CommitAsync(await BuildAsync(writer.Content), CancellationToken.None);
        }
        Assert.Equal(["d etc 0755", "f etc/greeting 0644 =hello\n", "h etc/same => etc/greeting", "l link -> etc/greeting"], RootfsListing.FromTar(tar));
    }

    [Fact]
    public void ParentsMustExistAndPathsMustBeNew()
    {
        var builder = new TreeBuilder();
        Assert.Equal(DecantErrorKind.Usage, Assert.Throws<DecantException>(() => builder.Add("a/b", new Inode { Kind = NodeKind.Fifo })).Kind);
        builder.Add("a", new Inode { Kind = NodeKind.Directory });
        builder.Add("a/b", new Inode { Kind = NodeKind.Fifo });
        Assert.Throws<DecantException>(() => builder.Add("a/b", new Inode { Kind = NodeKind.Fifo }));
        Assert.Throws<DecantException>(() => builder.Add("../x", new Inode { Kind = NodeKind.Fifo }));
    }
}
