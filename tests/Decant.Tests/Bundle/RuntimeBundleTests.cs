using System.Globalization;
using System.Text.Json.Nodes;
using Decant.Tests.Differential;
using Decant.Tests.Support;

namespace Decant.Tests.Bundle;

/// <summary>
/// <c>decant export --bundle</c> bundles run in a real runtime: <c>runc run</c> starts the image's own
/// process (entrypoint + cmd, env, working directory, user) and the test checks what it prints. The
/// root bundle runs as root; the rootless one is exported and run by the unprivileged user 65534.
/// Each config.json also carries exactly the namespaces, id mappings, mounts and device rules that
/// the installed <c>runc spec</c> (or <c>runc spec --rootless</c>, run as the same user) writes.
/// Without runc, or without user namespaces for the rootless case, these tests fail; they never pass
/// without running a container.
/// </summary>
[Collection(UsesRealImages.Name)]
public sealed class RuntimeBundleTests(RealImages images) : RealImagesTest(images)
{
    private const string Tag = "bundle";
    private const string Greeting = "hello-bundle";
    private const string ImageUser = "1000:1001";

    /// <summary>The image's command: prints its env, cwd and ids, then runs the sample's own program.</summary>
    private const string Script = "echo \"$GREETING from $(pwd) as $(id -u):$(id -g)\"; exec /usr/bin/hello";

    private static readonly TimeSpan RunLimit = TimeSpan.FromSeconds(60);

    private static Task<ToolResult> RunAsRootAsync(string program, IEnumerable<string> arguments, CancellationToken cancellationToken) =>
        Tools.RunCheckedAsync(program, arguments, cancellationToken);

    private static string Cli => Path.Combine(AppContext.BaseDirectory, "decant.dll");

    [Fact]
    public async Task RootBundleRunsTheImageProcessWithRuncAsRoot()
    {
        var (work, bundle) = await ExportAsRootAsync("bundle-root");

        string output = await RuncRunAsync(RunAsRootAsync, bundle, Path.Combine(work, "runc-state"));
        Assert.Equal($"{Greeting} from /etc as {ImageUser}\nhello from decant\n", output);

        var config = ReadConfig(bundle);
        AssertSameRuntimeSettings(await RuncSpecAsRootAsync(work), config);
        Assert.Equal(1000, (int)config["process"]!["user"]!["uid"]!);
        Assert.Equal(1001, (int)config["process"]!["user"]!["gid"]!);
    }

    [Fact]
    public async Task RootlessBundleRunsTheImageProcessWithRuncAsAnUnprivilegedUser()
    {
        RequireRunc();
        RequireUnprivilegedUserNamespaces();
        var user = await UnprivilegedUser.CreateAsync(Images, Token);
        string layout = await user.CopyInAsync(await MakeImageAsync(Images.NewScratchDirectory("bundle-image")), "image", Token);
        string bundle = Path.Combine(user.Workspace, "bundle");
        // No --rootless: not being root makes the export rootless.
        await user.RunAsync("dotnet", [Cli, "export", $"oci:{layout}:{Tag}", "-o", bundle, "--bundle", "--progress", "none"], Token);

        string output = await RuncRunAsync(user.RunAsync, bundle, Path.Combine(user.Workspace, "runc-state"));
        Assert.Equal($"{Greeting} from /etc as 0:0\nhello from decant\n", output);

        var config = ReadConfig(bundle);
        string reference = Path.Combine(user.Workspace, "runc-spec");
        await user.RunAsync("mkdir", ["--", reference], Token);
        await user.RunAsync("runc", ["spec", "--rootless", "--bundle", reference], Token);
        AssertSameRuntimeSettings(ReadConfig(reference), config);
        string id = UnprivilegedUser.Id.ToString(CultureInfo.InvariantCulture);
        Assert.Equal(id, config["linux"]!["uidMappings"]![0]!["hostID"]!.ToJsonString());
        Assert.Equal(id, config["linux"]!["gidMappings"]![0]!["hostID"]!.ToJsonString());
        // One mapped id: the process runs as the container's root, and the image's user is kept as an annotation.
        Assert.Equal(0, (int)config["process"]!["user"]!["uid"]!);
        Assert.Equal(0, (int)config["process"]!["user"]!["gid"]!);
        Assert.Equal(ImageUser, (string?)config["annotations"]!["io.github.decant-dev.decant.image.user"]);
    }

    [Fact]
    public async Task RootlessBundleExportedByRootMapsRootAndRunsWithRunc()
    {
        var (work, bundle) = await ExportAsRootAsync("bundle-rootless-root", "--rootless");

        string output = await RuncRunAsync(RunAsRootAsync, bundle, Path.Combine(work, "runc-state"));
        Assert.Equal($"{Greeting} from /etc as 0:0\nhello from decant\n", output);

        var config = ReadConfig(bundle);
        AssertSameRuntimeSettings(await RuncSpecAsRootAsync(work, "--rootless"), config);
        Assert.Equal("0", config["linux"]!["uidMappings"]![0]!["hostID"]!.ToJsonString());
    }

    /// <summary>As root: builds the test image in a new scratch directory and exports it with <c>--bundle</c> and <paramref name="options"/>.</summary>
    private async Task<(string Work, string Bundle)> ExportAsRootAsync(string purpose, params string[] options)
    {
        Assert.True(Environment.IsPrivilegedProcess, "the root-run bundle tests run runc as root; run the tests as root");
        RequireRunc();
        string work = Images.NewScratchDirectory(purpose);
        string layout = await MakeImageAsync(work);
        string bundle = Path.Combine(work, "bundle");
        await Tools.RunCheckedAsync("dotnet", [Cli, "export", $"oci:{layout}:{Tag}", "-o", bundle, "--bundle", .. options, "--progress", "none"], Token);
        return (work, bundle);
    }

    /// <summary>What <c>runc spec [--rootless]</c>, run as root, writes.</summary>
    private async Task<JsonNode> RuncSpecAsRootAsync(string work, params string[] options)
    {
        string reference = Path.Combine(work, "runc-spec");
        Directory.CreateDirectory(reference);
        await Tools.RunCheckedAsync("runc", ["spec", .. options, "--bundle", reference], Token);
        return ReadConfig(reference);
    }

    /// <summary>
    /// The sample busybox image with a process that shows what the runtime gave it: an entrypoint and
    /// cmd, an env variable, a working directory and a numeric user (the sample has no /etc/passwd entry for it).
    /// </summary>
    private async Task<string> MakeImageAsync(string directory)
    {
        string layout = Path.Combine(directory, "image");
        await Tools.RunCheckedAsync("cp", ["-a", "--", Images.SampleBusybox, layout], Token);
        await Tools.RunCheckedAsync("umoci",
        [
            "config", "--image", $"{layout}:{RealImages.Tag}", "--tag", Tag,
            "--config.entrypoint=/bin/sh", "--config.entrypoint=-c", "--config.cmd=" + Script,
            "--config.env=GREETING=" + Greeting, "--config.workingdir=/etc", "--config.user=" + ImageUser,
        ], Token);
        return layout;
    }

    /// <summary>
    /// <c>runc --root STATE run</c> of the bundle with a time limit; the container is deleted
    /// (<c>runc delete --force</c>) whether it finished, failed or timed out. Returns its stdout.
    /// </summary>
    private async Task<string> RuncRunAsync(Func<string, IEnumerable<string>, CancellationToken, Task<ToolResult>> run, string bundle, string state)
    {
        string container = "decant-test-" + Guid.NewGuid().ToString("N")[..12];
        ToolResult result;
        using (var limit = CancellationTokenSource.CreateLinkedTokenSource(Token))
        {
            limit.CancelAfter(RunLimit);
            try
            {
                result = await run("runc", ["--root", state, "run", "--bundle", bundle, container], limit.Token);
            }
            catch (Exception failure)
            {
                try
                {
                    await DeleteAsync();
                }
                catch (InvalidOperationException cleanup)
                {
                    throw new AggregateException(failure, cleanup);
                }
                if (failure is OperationCanceledException && !Token.IsCancellationRequested)
                {
                    throw new TimeoutException($"`runc run` of {bundle} did not finish within {RunLimit.TotalSeconds} s; the container was deleted", failure);
                }
                throw;
            }
        }
        await DeleteAsync();
        return result.StandardOutput;

        // --force also kills what a timed-out run left behind; a container that is gone already is no error.
        async Task DeleteAsync()
        {
            using var cleanup = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await run("runc", ["--root", state, "delete", "--force", container], cleanup.Token);
        }
    }

    /// <summary>What a runtime enforces, compared with <c>runc spec</c>: everything but the process, root, hostname and annotations.</summary>
    private static void AssertSameRuntimeSettings(JsonNode runcSpec, JsonNode decant)
    {
        AssertJsonEqual(Normalized(runcSpec["mounts"]), Normalized(decant["mounts"]), "mounts");
        AssertJsonEqual(SortedByType(runcSpec["linux"]!["namespaces"]), SortedByType(decant["linux"]!["namespaces"]), "linux.namespaces");
        foreach (string field in new[] { "uidMappings", "gidMappings", "resources", "devices", "maskedPaths", "readonlyPaths" })
        {
            AssertJsonEqual(runcSpec["linux"]![field], decant["linux"]![field], "linux." + field);
        }
        foreach (string set in new[] { "bounding", "effective", "permitted" })
        {
            AssertJsonEqual(runcSpec["process"]!["capabilities"]![set], decant["process"]!["capabilities"]![set], "process.capabilities." + set);
        }
        AssertJsonEqual(runcSpec["process"]!["noNewPrivileges"], decant["process"]!["noNewPrivileges"], "process.noNewPrivileges");
        AssertJsonEqual(runcSpec["process"]!["rlimits"], decant["process"]!["rlimits"], "process.rlimits");
    }

    private static void AssertJsonEqual(JsonNode? expected, JsonNode? actual, string what) =>
        Assert.True(JsonNode.DeepEquals(expected, actual), $"{what} differs from runc spec's:\nrunc spec: {expected?.ToJsonString()}\ndecant:    {actual?.ToJsonString()}");

    /// <summary>The mounts with an absent option list and an empty one made the same.</summary>
    private static JsonArray Normalized(JsonNode? mounts)
    {
        var copy = mounts!.DeepClone().AsArray();
        foreach (var mount in copy)
        {
            if (mount!["options"] is JsonArray { Count: 0 })
            {
                mount.AsObject().Remove("options");
            }
        }
        return copy;
    }

    private static JsonArray SortedByType(JsonNode? namespaces) =>
        [.. namespaces!.AsArray().Select(n => n!.DeepClone()).OrderBy(n => (string?)n["type"], StringComparer.Ordinal)];

    private static JsonNode ReadConfig(string bundle) =>
        JsonNode.Parse(File.ReadAllBytes(Path.Combine(bundle, "config.json"))) ?? throw new InvalidOperationException($"{bundle}/config.json is null");

    private static void RequireRunc()
    {
        bool found = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Any(directory => File.Exists(Path.Combine(directory, "runc")));
        Assert.True(found, "runc is not on PATH (scripts/install-test-tools.sh installs it); the bundle tests need a real runtime");
    }

    private static void RequireUnprivilegedUserNamespaces()
    {
        Assert.True(ReadSysctl("/proc/sys/user/max_user_namespaces") is null or > 0, "user namespaces are disabled (user.max_user_namespaces = 0); rootless runc needs them");
        Assert.True(ReadSysctl("/proc/sys/kernel/unprivileged_userns_clone") is null or 1, "unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone = 0); rootless runc needs them");
        Assert.True(ReadSysctl("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") is null or 0, "AppArmor restricts unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns = 1); rootless runc needs them");
    }

    private static long? ReadSysctl(string path) =>
        File.Exists(path) ? long.Parse(File.ReadAllText(path).Trim(), CultureInfo.InvariantCulture) : null;
}
