using Decant.Tests.Interop;
using Decant.Tests.Support;
using static Decant.Tests.Interop.FileSystemProbe;

namespace Decant.Tests.Writers.Directory;

/// <summary>
/// A scratch area holding a target path for a writer and, beside it, a sentinel directory with one
/// file (mode 0644, owned by root) that no write into the target may ever change.
/// </summary>
internal sealed class GuardedTarget : IDisposable
{
    private const string SentinelFile = "keep";
    private const string SentinelText = "precious";
    private readonly ScratchDirectory _scratch = new();

    public GuardedTarget()
    {
        Target = _scratch.Combine("rootfs");
        Sentinel = _scratch.Combine("sentinel");
        System.IO.Directory.CreateDirectory(Sentinel);
        File.WriteAllText(SentinelFilePath, SentinelText);
        SetPermissions(SentinelFilePath, 0x1A4);
    }

    public string Target { get; }

    public string Sentinel { get; }

    public string SentinelFilePath => System.IO.Path.Combine(Sentinel, SentinelFile);

    public string Scratch(string name) => _scratch.Combine(name);

    public string At(string relative) => System.IO.Path.Combine(Target, relative);

    public void AssertSentinelUntouched()
    {
        Assert.Equal([SentinelFile], System.IO.Directory.GetFileSystemEntries(Sentinel).Select(System.IO.Path.GetFileName));
        Assert.Equal(SentinelText, File.ReadAllText(SentinelFilePath));
        var st = Stat(SentinelFilePath);
        Assert.Equal((0x1A4u, 0u, 0u), (st.Mode & 0xFFFu, st.Uid, st.Gid));
        Assert.Empty(XattrNames(SentinelFilePath));
    }

    public void Dispose() => _scratch.Dispose();
}
