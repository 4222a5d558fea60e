namespace Decant.Tests.Support;

/// <summary>
/// A fresh temporary directory for one test, removed afterwards without following symlinks. Trees
/// that .NET cannot remove (names that are not UTF-8, directories without write permission) are
/// removed with <c>rm -rf</c>.
/// </summary>
public sealed class ScratchDirectory : IDisposable
{
    public ScratchDirectory()
    {
        Path = Directory.CreateTempSubdirectory("decant-test-").FullName;
    }

    public string Path { get; }

    public string Combine(params string[] parts) => System.IO.Path.Combine([Path, .. parts]);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // rm names files by their bytes and makes read-only directories writable as it goes.
            using var rm = System.Diagnostics.Process.Start("rm", ["-rf", "--", Path]);
            rm.WaitForExit();
        }
    }
}
