using Decant.Tests.Support;

namespace Decant.Tests.Sources;

/// <summary>
/// Real images made once per test run with umoci and skopeo: an OCI layout with tags t1 (two
/// layers) and t2 (one), and t1 copied to an oci-archive and a docker-archive.
/// </summary>
public sealed class UmociImages : IAsyncLifetime
{
    public string Root { get; } = Directory.CreateTempSubdirectory("decant-umoci-").FullName;

    public string Layout => Path.Combine(Root, "layout");

    public string OciArchive => Path.Combine(Root, "image.oci.tar");

    public string DockerArchive => Path.Combine(Root, "image.docker.tar");

    /// <summary>The name:tag the docker-archive carries.</summary>
    public const string DockerName = "example/app:v1";

    public async Task InitializeAsync()
    {
        await ExternalTool.RunAsync("umoci", "init", "--layout", Layout);
        await ExternalTool.RunAsync("umoci", "new", "--image", Layout + ":t1");
        await AddLayerAsync("t1", ("etc/greeting", "hello from layer one\n"));
        await AddLayerAsync("t1", ("usr/share/doc/note.txt", "second layer\n"));
        await ExternalTool.RunAsync("umoci", "new", "--image", Layout + ":t2");
        await AddLayerAsync("t2", ("t2-only", "only in t2\n"));
        await ExternalTool.RunAsync("skopeo", "copy", "-q", $"oci:{Layout}:t1", $"oci-archive:{OciArchive}:t1");
        await ExternalTool.RunAsync("skopeo", "copy", "-q", $"oci:{Layout}:t1", $"docker-archive:{DockerArchive}:{DockerName}");
    }

    private async Task AddLayerAsync(string tag, params (string Path, string Content)[] files)
    {
        string bundle = Path.Combine(Root, "bundle-" + Guid.NewGuid().ToString("N"));
        await ExternalTool.RunAsync("umoci", "unpack", "--image", $"{Layout}:{tag}", bundle);
        foreach (var (path, content) in files)
        {
            string target = Path.Combine(bundle, "rootfs", path);
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            await File.WriteAllTextAsync(target, content);
        }
        await ExternalTool.RunAsync("umoci", "repack", "--image", $"{Layout}:{tag}", bundle);
        Directory.Delete(bundle, recursive: true);
    }

    public Task DisposeAsync()
    {
        Directory.Delete(Root, recursive: true);
        return Task.CompletedTask;
    }
}

[CollectionDefinition(Name)]
public sealed class UmociImagesGroup : ICollectionFixture<UmociImages>
{
    public const string Name = "umoci images";
}
