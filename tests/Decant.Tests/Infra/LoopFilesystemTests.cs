using System.Security.Cryptography;
using Decant.Tests.Support;

namespace Decant.Tests.Infra;

/// <summary>
/// The loop filesystems the cache tests stand on: XFS really shares extents (coreutils
/// <c>cp --reflink=always</c> through FICLONE, measured by statvfs), ext4 really refuses to, and
/// disposing leaves no mount and no file behind.
/// </summary>
public sealed class LoopFilesystemTests : IDisposable
{
    private const long DataBytes = 32 << 20;
    private readonly CancellationTokenSource timeout = new(TimeSpan.FromMinutes(2));

    public void Dispose() => timeout.Dispose();

    private CancellationToken Token => timeout.Token;

    private static async Task WriteRandomAsync(string path, CancellationToken cancellationToken)
    {
        byte[] data = new byte[DataBytes];
        new Random(9).NextBytes(data);
        await File.WriteAllBytesAsync(path, data, cancellationToken);
    }

    [Fact]
    public async Task AReflinkCopyOnXfsSharesTheDataAndUsesNoNewSpace()
    {
        await using var filesystem = await LoopFilesystem.CreateAsync(LoopFilesystemKind.XfsReflink, 512L << 20, Token);
        string original = filesystem.Combine("original");
        await WriteRandomAsync(original, Token);
        long before = await filesystem.UsedBytesAsync(Token);

        await Tools.RunCheckedAsync("cp", ["--reflink=always", original, filesystem.Combine("clone")], Token);

        long growth = await filesystem.UsedBytesAsync(Token) - before;
        Assert.True(growth < DataBytes / 32, $"a reflinked copy of {DataBytes} bytes grew the used space by {growth} bytes");
        Assert.Equal(SHA256.HashData(await File.ReadAllBytesAsync(original, Token)), SHA256.HashData(await File.ReadAllBytesAsync(filesystem.Combine("clone"), Token)));

        // A plain copy is the control: the same measurement sees it take the whole size.
        await Tools.RunCheckedAsync("cp", ["--reflink=never", original, filesystem.Combine("copy")], Token);
        Assert.True(await filesystem.UsedBytesAsync(Token) - before >= DataBytes, "a real copy did not show in the used space");
    }

    [Fact]
    public async Task Ext4RefusesReflinks()
    {
        await using var filesystem = await LoopFilesystem.CreateAsync(LoopFilesystemKind.Ext4, 64L << 20, Token);
        await WriteRandomAsync(filesystem.Combine("original"), Token);

        var result = await Tools.RunAsync("cp", ["--reflink=always", filesystem.Combine("original"), filesystem.Combine("clone")], Token);

        Assert.NotEqual(0, result.ExitCode);
    }

    [Fact]
    public async Task DisposingUnmountsAndRemovesEverythingEvenWhileAFileIsOpen()
    {
        var filesystem = await LoopFilesystem.CreateAsync(LoopFilesystemKind.Ext4, 64L << 20, Token);
        string mountPoint = filesystem.MountPoint;
        string image = filesystem.ImageFile;
        Assert.Contains(File.ReadLines("/proc/self/mountinfo"), line => line.Split(' ')[4] == mountPoint);

        // An open file makes a plain umount fail (EBUSY): disposing falls back to a lazy one.
        await using (var open = File.Create(filesystem.Combine("held")))
        {
            await filesystem.DisposeAsync();
            Assert.DoesNotContain(File.ReadLines("/proc/self/mountinfo"), line => line.Split(' ')[4] == mountPoint);
        }

        Assert.False(File.Exists(image));
        Assert.False(Directory.Exists(mountPoint));
        // The last close released the lazily detached filesystem, and autoclear its loop device.
        var loops = await Tools.RunCheckedAsync("losetup", ["-a"], Token);
        Assert.DoesNotContain(image, loops.StandardOutput, StringComparison.Ordinal);
    }
}
