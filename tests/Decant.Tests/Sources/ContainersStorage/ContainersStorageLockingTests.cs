using Decant.Tests.Cli;
using Decant.Tests.Support;

namespace Decant.Tests.Sources.ContainersStorage;

/// <summary>
/// Decant shares a store with the podman that writes to it, through containers/storage's own locks
/// (fcntl record locks on the lock files, shared for readers): a podman building, tagging and
/// removing images in a loop does not break an export or the store, and a store held locked for
/// writing makes the export wait, say that it waits, and go on when the lock is released.
/// Each test works on its own copy of the overlay store.
/// </summary>
[Collection(UsesContainersStores.Name)]
public sealed class ContainersStorageLockingTests(ContainersStores stores) : ContainersStorageTest(stores)
{
    /// <summary>
    /// The writer: until STOP exists, build an image on top of the test image, tag it, retag and
    /// untag the test image itself (so images.json changes under the export), remove the new image
    /// (and its layer); after each round, write the round's number to COUNT. Any podman failure ends
    /// the loop with its exit status.
    /// </summary>
    private const string WriterLoop = """
        set -euo pipefail
        stop=$1 count=$2 context=$3; shift 3
        i=0
        while [ ! -e "$stop" ]; do
          i=$((i + 1))
          printf 'FROM localhost/cstore/test:latest\nRUN echo %d > /loop\n' "$i" > "$context/Containerfile"
          podman "$@" build --quiet --isolation chroot -t "localhost/cstore/loop:$i" -f "$context/Containerfile" "$context" > /dev/null
          podman "$@" tag "localhost/cstore/loop:$i" "localhost/cstore/loop-alias:$i"
          podman "$@" tag localhost/cstore/test:latest localhost/cstore/test:during-the-loop
          podman "$@" untag localhost/cstore/test:latest localhost/cstore/test:during-the-loop
          podman "$@" rmi "localhost/cstore/loop:$i" "localhost/cstore/loop-alias:$i" > /dev/null
          echo "$i" > "$count"
        done
        """;

    [Fact]
    public async Task APodmanWritingToTheStoreDoesNotBreakTheExportOrTheStore()
    {
        string scratch = Stores.NewScratchDirectory("cs-concurrent");
        var store = await Stores.CopyAsync(Stores.Overlay, Path.Combine(scratch, "store"), Token);
        string stop = Path.Combine(scratch, "stop"), count = Path.Combine(scratch, "count"), context = Path.Combine(scratch, "context");
        Directory.CreateDirectory(context);
        using var writer = ObservedProcess.Start(["bash", "-c", WriterLoop, "writer", stop, count, context, .. ContainersStores.PodmanOptions(store)]);
        try
        {
            await WaitForRoundAsync(count, 1, writer);
            int before = Round(count);
            // At least 2 exports, and on until the writer has finished a round more: some of the
            // writer's work falls inside an export, whatever the machine's speed.
            for (int export = 0; export < 2 || Round(count) < before + 1; export++)
            {
                Assert.True(export < 30, $"the podman loop made no progress during 30 exports:\n{writer.Output}");
                Assert.False(writer.HasExited, $"the podman loop ended early:\n{writer.Output}");
                var (output, _) = await ExportAsync(store.Reference(), "dir");
                TreeSnapshotAssert.Equal(store.Image.RegistryTree, await SnapshotAsync(output));
            }
        }
        finally
        {
            await File.WriteAllTextAsync(stop, "", CancellationToken.None);
        }
        int exit = await writer.WaitForExitAsync(TimeSpan.FromMinutes(1), Token);
        Assert.True(exit == 0, $"the podman loop failed ({exit}):\n{writer.Output}");

        (await ContainersStores.PodmanAsync(store, ["images"], Token)).EnsureSuccess();
        (await ContainersStores.PodmanAsync(store, ["image", "exists", ContainersStores.Image], Token)).EnsureSuccess();
        var left = await ContainersStores.PodmanAsync(store, ["image", "exists", "localhost/cstore/loop:1"], Token);
        Assert.Equal(1, left.ExitCode); // removed by the loop: podman's own view of the store holds
        var (after, _) = await ExportAsync(store.Reference(), "dir");
        TreeSnapshotAssert.Equal(store.Image.RegistryTree, await SnapshotAsync(after));
    }

    [Fact]
    public async Task AStoreLockedForWritingMakesTheExportWaitAndSaySo()
    {
        var store = await Stores.CopyAsync(Stores.Overlay, Stores.NewScratchDirectory("cs-locked"), Token);
        string lockFile = Path.Combine(store.LayersDirectory, "layers.lock");
        Assert.True(File.Exists(lockFile), $"{lockFile} is missing");
        // containers/storage's lockfile takes fcntl record locks (util-linux flock's are another kind).
        using var holder = ObservedProcess.Start(["python3", "-c",
            "import fcntl, sys\nf = open(sys.argv[1], 'r+')\nfcntl.lockf(f, fcntl.LOCK_EX)\nprint('locked', flush=True)\nsys.stdin.read()", lockFile]);
        await holder.WaitForAsync("locked", TimeSpan.FromSeconds(30), Token);

        string output = NewOutput("cs-locked", "dir");
        using var export = ObservedProcess.Start(CliProcess.Command(["export", store.Reference(), "-o", output, "--progress", "plain"]));
        // Well within the default timeout (60 s): the export says at once that it waits.
        await export.WaitForAsync("wait", TimeSpan.FromSeconds(20), Token);
        string waiting = export.Output.Split('\n').First(line => line.Contains("wait", StringComparison.OrdinalIgnoreCase));
        Assert.Contains(store.GraphRoot, waiting, StringComparison.Ordinal);
        await Task.Delay(TimeSpan.FromSeconds(2), Token);
        Assert.False(export.HasExited, $"the export ended while the store was locked:\n{export.Output}");

        holder.CloseInput();
        Assert.Equal(0, await holder.WaitForExitAsync(TimeSpan.FromSeconds(30), Token));
        int exit = await export.WaitForExitAsync(TimeSpan.FromMinutes(1), Token);
        Assert.True(exit == 0, $"the export failed after the lock was released ({exit}):\n{export.Output}");
        TreeSnapshotAssert.Equal(store.Image.RegistryTree, await SnapshotAsync(output));
    }

    private static int Round(string count) =>
        File.Exists(count) && int.TryParse(File.ReadAllText(count).Trim(), System.Globalization.CultureInfo.InvariantCulture, out int round) ? round : 0;

    private async Task WaitForRoundAsync(string count, int round, ObservedProcess writer)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(1);
        while (Round(count) < round)
        {
            Assert.False(writer.HasExited, $"the podman loop ended early:\n{writer.Output}");
            Assert.True(DateTime.UtcNow < deadline, $"the podman loop did not finish round {round} within a minute:\n{writer.Output}");
            await Task.Delay(100, Token);
        }
    }
}
