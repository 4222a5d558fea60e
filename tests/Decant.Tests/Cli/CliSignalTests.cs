using System.Diagnostics;
using System.Text;
using Decant.Tests.Support;

namespace Decant.Tests.Cli;

/// <summary>
/// SIGINT, SIGTERM and Ctrl-C in a terminal cancel an export midway: exit 130, "cancelled; partial
/// output removed", nothing left. The image comes from the real registry through
/// <see cref="RegistryFaultProxy"/>, which relays half of the layer blob and then holds the
/// connection open without sending more for as long as the test lasts: once decant says it is
/// reading, the export cannot end before the signal lands (its stall timeout is 30 s), whatever
/// the machine's speed. The children start with SIGINT at its default (<see cref="CliProcess.Command"/>),
/// so this holds however the suite itself was started.
/// </summary>
[Collection(UsesRegistries.Name)]
public sealed class CliSignalTests(RegistryFixture registries) : RegistryTest(registries)
{
    private const string Repository = "cli/stalled-layer";

    [Fact]
    public Task InterruptCancelsAndRemovesThePartialOutput() => SignalCancelsAndRemovesThePartialOutputAsync("INT");

    [Fact]
    public Task TerminateCancelsAndRemovesThePartialOutput() => SignalCancelsAndRemovesThePartialOutputAsync("TERM");

    [Fact]
    public async Task CtrlCInATerminalCancelsAndRemovesThePartialOutput()
    {
        var (proxy, reference) = await StalledImageAsync();
        await using (proxy)
        {
            string output = NewOutput("ctrl-c");
            using var terminal = CliProcess.StartInTerminal(["export", reference, "-o", output, "--progress", "plain"]);
            await terminal.WaitForAsync("reading", TimeSpan.FromSeconds(60));
            Assert.True(Directory.Exists(output), "the export has begun its output before it reads a layer");
            await terminal.TypeAsync("\x03"); // the pty turns ^C into SIGINT for the foreground process group
            Assert.Equal(130, await terminal.WaitForExitAsync(TimeSpan.FromSeconds(30)));
            Assert.Contains("cancelled; partial output removed", terminal.Output, StringComparison.Ordinal);
            Assert.False(Path.Exists(output), "the partial output must be removed");
            Assert.Empty(Directory.EnumerateFileSystemEntries(Path.GetDirectoryName(output)!));
        }
    }

    /// <summary>Starts an export of the stalled image, sends <paramref name="signal"/> once it is reading, and checks it exits 130 having removed its output.</summary>
    private async Task SignalCancelsAndRemovesThePartialOutputAsync(string signal)
    {
        var (proxy, reference) = await StalledImageAsync();
        await using (proxy)
        {
            string output = NewOutput(signal);
            var command = CliProcess.Command(["export", reference, "-o", output, "--progress", "plain"]);
            var start = new ProcessStartInfo(command[0]) { RedirectStandardError = true, UseShellExecute = false };
            foreach (var argument in command.Skip(1))
            {
                start.ArgumentList.Add(argument);
            }
            using var process = Process.Start(start)!;
            try
            {
                var stderr = new StringBuilder();
                var reading = new TaskCompletionSource();
                process.ErrorDataReceived += (_, e) =>
                {
                    lock (stderr)
                    {
                        stderr.AppendLine(e.Data);
                    }
                    if (e.Data?.Contains("reading", StringComparison.Ordinal) == true)
                    {
                        reading.TrySetResult();
                    }
                };
                process.BeginErrorReadLine();
                await reading.Task.WaitAsync(TimeSpan.FromSeconds(60), Token);
                Assert.True(Directory.Exists(output), "the export has begun its output before it reads a layer");
                // env execs dotnet, so the process started is decant itself.
                (await Tools.RunAsync("kill", ["-" + signal, CliProcess.Pid(process)], Token)).EnsureSuccess();
                await process.WaitForExitAsync(Token).WaitAsync(TimeSpan.FromSeconds(30), Token);
                Assert.True(process.ExitCode == 130, $"exit {process.ExitCode}; stderr:\n{stderr}");
                Assert.Contains("cancelled; partial output removed", stderr.ToString(), StringComparison.Ordinal);
                Assert.False(Path.Exists(output), "the partial output must be removed");
                Assert.Empty(Directory.EnumerateFileSystemEntries(Path.GetDirectoryName(output)!));
            }
            finally
            {
                if (!process.HasExited)
                {
                    process.Kill(entireProcessTree: true); // a failed test must not leave decant waiting on the stall
                }
            }
        }
    }

    /// <summary>
    /// Pushes a one-layer image (a file of 1 MiB of text that gzip cannot shrink much) and returns a
    /// proxy in front of the registry that stalls the layer blob halfway, with the image's reference through it.
    /// </summary>
    private async Task<(RegistryFaultProxy Proxy, string Reference)> StalledImageAsync()
    {
        byte[] noise = new byte[768 << 10];
        new Random(130).NextBytes(noise);
        using var layout = new SyntheticImage(Registries.Images.NewScratchDirectory("stalled-image"));
        var image = layout.AddImage([new LayerTar().File("big", Convert.ToBase64String(noise)).ToArray()], LayerCompressionForTest.Gzip);
        layout.Tag(image.Manifest, RealImages.Tag);
        // --preserve-digests: the registry serves the layer under the digest the proxy watches for.
        await Registries.PushAsync(["--preserve-digests", layout.Reference(RealImages.Tag)], Repository, Token);
        string layerPath = "/blobs/" + image.Layers.Single().Digest;
        var proxy = new RegistryFaultProxy(Registries.Anonymous.Port, r =>
            r.Method == "GET" && r.Path.EndsWith(layerPath, StringComparison.Ordinal) ? new Fault(FaultKind.StallBody, 0.5) : Fault.None);
        return (proxy, $"docker://{proxy.Host}/{Repository}:{RealImages.Tag}");
    }
}
