using Decant.Interop;
using Decant.Tests.Support;
using static Decant.Tests.Interop.FileSystemProbe;

namespace Decant.Tests.Interop;

public sealed class LibCTests : IDisposable
{
    private readonly ScratchDirectory _scratch = new();

    public void Dispose() => _scratch.Dispose();

    [Theory]
    [InlineData(1u, 3u)]
    [InlineData(259u, 65536u)]
    [InlineData(0xFFFu, 0xFFu)]
    [InlineData(4095u, 1048575u)] // the kernel's limits: 12-bit major, 20-bit minor
    public void MakeDeviceRoundTripsThroughTheKernel(uint major, uint minor)
    {
        Assert.Equal(0u, LibC.GetEffectiveUserId()); // mknod of a device needs root
        using var dir = Posix.OpenAt(SafeFdHandle.CurrentDirectory, _scratch.Path, LibC.O_PATH | LibC.O_DIRECTORY, 0, _scratch.Path);

        Posix.MknodAt(dir, "dev", LibC.S_IFCHR | 0x180, LibC.MakeDevice(major, minor), "dev");

        var st = Stat(_scratch.Combine("dev"));
        Assert.Equal((major, minor), (st.RdevMajor, st.RdevMinor));
    }

    [Fact]
    public void StatxLayoutMatchesWhatDotNetReports()
    {
        var path = _scratch.Combine("file");
        File.WriteAllBytes(path, new byte[12345]);
        var when = new DateTime(2001, 2, 3, 4, 5, 6, 789, DateTimeKind.Utc);
        File.SetLastWriteTimeUtc(path, when);

        var st = Stat(path);

        Assert.Equal(12345ul, st.Size);
        Assert.Equal(LibC.S_IFREG, st.Mode & LibC.S_IFMT);
        Assert.Equal(1u, st.LinkCount);
        Assert.Equal(new DateTimeOffset(when).ToUnixTimeSeconds(), st.ModificationTime.Seconds);
        Assert.Equal(789_000_000u, st.ModificationTime.Nanoseconds);
    }

    [Fact]
    public void FailuresNameTheCallThePathAndTheReason()
    {
        var missing = _scratch.Combine("missing");

        var error = Assert.Throws<NativeIOException>(() => Posix.OpenAt(SafeFdHandle.CurrentDirectory, missing, LibC.O_RDONLY, 0, missing));

        Assert.Equal(LibC.ENOENT, error.Errno);
        Assert.Contains("openat", error.Message, StringComparison.Ordinal);
        Assert.Contains(missing, error.Message, StringComparison.Ordinal);
        Assert.Contains("No such file or directory", error.Message, StringComparison.Ordinal);
    }
}
