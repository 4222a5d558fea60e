using System.Diagnostics;

namespace Decant.Tests.Boot;

/// <summary>
/// A real boot: <c>scripts/boot-test.sh</c> exports a Debian bookworm container image to ext4 with the
/// <c>decant.dll</c> built next to these tests, boots it with Debian's kernel under qemu-system-x86_64,
/// and checks what the guest's init printed against the host's copy of the rootfs. Needs root and apt
/// (the script installs qemu, debootstrap, umoci); without them the test fails, it never skips.
/// About 25 s with a warm cache (/var/tmp/decant-boot), 80-90 s the first time.
/// </summary>
public class BootTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(15);

    [Fact]
    public async Task DebianImageExportedToExt4BootsWithDebiansKernelAndSeesEveryFile()
    {
        string script = FindBootScript();
        var start = new ProcessStartInfo("bash")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(script);
        start.Environment["DECANT"] = "dotnet " + Path.Combine(AppContext.BaseDirectory, "decant.dll");

        using var timeout = new CancellationTokenSource(Timeout);
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start bash {script}");
        process.StandardInput.Close();
        string output, error;
        try
        {
            var outputTask = process.StandardOutput.ReadToEndAsync(timeout.Token);
            var errorTask = process.StandardError.ReadToEndAsync(timeout.Token);
            await process.WaitForExitAsync(timeout.Token);
            (output, error) = (await outputTask, await errorTask);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{script} did not finish within {Timeout}");
        }

        string report = error + output;
        Assert.True(process.ExitCode == 0, $"{script} exited with {process.ExitCode}:\n{report}");
        string marker = report.Split('\n').Single(line => line.StartsWith("boot-test: guest: DECANT-BOOT-OK ", StringComparison.Ordinal));
        Assert.Contains(" rootfs=ext4 ", marker, StringComparison.Ordinal);
        Assert.Contains(" dpkg-verify-problems=0 ", marker, StringComparison.Ordinal);
        Assert.Contains("boot-test: PASSED: ", report, StringComparison.Ordinal);
    }

    private static string FindBootScript()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            string candidate = Path.Combine(directory.FullName, "scripts", "boot-test.sh");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }
        throw new FileNotFoundException($"scripts/boot-test.sh not found above {AppContext.BaseDirectory}");
    }
}
