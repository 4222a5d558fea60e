using Decant.Tests.Support;
using Decant.Writers.Ext4;

namespace Decant.Tests.Writers.Ext4;

public sealed class Ext4WriterTests : IDisposable
{
    private readonly ScratchDirectory _scratch = new();

    public void Dispose() => _scratch.Dispose();

    private string Image(string name = "image.ext4") => _scratch.Combine(name);

    [Fact]
    public async Task SmallTreePassesFsckAndMountsIdenticalToTheDirectoryExport()
    {
        byte[] layer = new LayerTar()
            .Dir("etc", mode: 0b111_101_101)
            .File("etc/hostname", "decant\n")
            .File("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n", mode: 0b110_100_100)
            .Dir("usr/bin", uid: 1000, gid: 100000)
            .File("usr/bin/tool", new string('x', 10_000), mode: 0b111_101_101, uid: 70000, gid: 5)
            .Symlink("bin", "usr/bin")
            .Hardlink("etc/hostname2", "etc/hostname")
            .Fifo("run-fifo")
            .CharDevice("null", 1, 3)
            .ToArray();
        var summary = await Ext4Images.WriteImageAsync(new Ext4WriterOptions { Output = Image() }, layer);
        Assert.Equal((3, 3, 1, 1, 1, 1), (summary.Files, summary.Directories, summary.Symlinks, summary.Hardlinks, summary.Devices, summary.Fifos));
        await Ext4Images.AssertCleanAsync(Image());

        string directory = _scratch.Combine("dir");
        await Ext4Images.WriteDirectoryAsync(directory, layer);
        await using var mounted = await Ext4Images.MountAsync(Image(), _scratch.Combine("mnt"));
        await Ext4Images.AssertSameTreeAsync(directory, mounted.Path);
    }
}
