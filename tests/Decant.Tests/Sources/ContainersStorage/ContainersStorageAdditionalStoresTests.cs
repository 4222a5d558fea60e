using Decant.Tests.Cli;
using Decant.Tests.Support;

namespace Decant.Tests.Sources.ContainersStorage;

/// <summary>
/// Without a store in the reference, an image the default store lacks is found in storage.conf's
/// <c>additionalimagestores</c> (read-only stores, searched in order), as podman finds it; one in
/// none of them is an error naming them.
/// </summary>
[Collection(UsesContainersStores.Name)]
public sealed class ContainersStorageAdditionalStoresTests(ContainersStores stores) : ContainersStorageTest(stores)
{
    /// <summary>Runs decant with CONTAINERS_STORAGE_CONF naming a file whose default store is empty and whose additional image stores are <paramref name="additional"/>.</summary>
    private async Task<ToolResult> DecantWithAdditionalStoresAsync(IEnumerable<string> additional, params string[] arguments)
    {
        string directory = Stores.NewScratchDirectory("cs-additional-conf");
        string conf = Path.Combine(directory, "storage.conf");
        string list = string.Join(", ", additional.Select(path => $"\"{path}\""));
        await File.WriteAllTextAsync(conf,
            $"[storage]\ndriver = \"overlay\"\ngraphroot = \"{Path.Combine(directory, "empty")}\"\nrunroot = \"{Path.Combine(directory, "run")}\"\n" +
            $"[storage.options]\nadditionalimagestores = [{list}]\n", Token);
        var command = CliProcess.Command(arguments);
        return await Tools.RunAsync("env", [$"CONTAINERS_STORAGE_CONF={conf}", .. command], Token);
    }

    [Fact]
    public async Task AnImageInAnAdditionalStoreExports()
    {
        string missing = Path.Combine(Stores.NewScratchDirectory("cs-additional-missing"), "none");
        string output = NewOutput("cs-additional", "dir");
        var result = await DecantWithAdditionalStoresAsync([missing, Stores.Overlay.GraphRoot], "export", "containers-storage:" + ContainersStores.Image, "-o", output);
        Assert.True(result.ExitCode == 0, $"decant export exited with {result.ExitCode}:\n{result.StandardError}");
        TreeSnapshotAssert.Equal(Stores.Overlay.Image.RegistryTree, await SnapshotAsync(output));
    }

    [Fact]
    public async Task AnImageInNoStoreNamesTheAdditionalStores()
    {
        var result = await DecantWithAdditionalStoresAsync([Stores.Vfs.GraphRoot], "inspect", "containers-storage:localhost/no/such:image");
        Assert.Equal(3, result.ExitCode);
        Assert.Contains($"nor is it in the additional image stores {Stores.Vfs.GraphRoot}", result.StandardError, StringComparison.Ordinal);
    }
}
