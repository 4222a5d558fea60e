using System.Globalization;
using System.Text.Json;
using Decant.Sources;
using Decant.Tests.Differential;

namespace Decant.Tests.Support;

/// <summary>
/// One private containers-storage store, with the image <see cref="ContainersStores.Image"/> that
/// <c>tests/fixtures/build-cstore.sh</c> built into it, and what the same image is elsewhere: copied
/// by skopeo to an OCI layout and to the test registry, unpacked by umoci, exported by Decant from
/// the registry. Copies made by <see cref="ContainersStores.CopyAsync"/> share these oracles.
/// </summary>
/// <param name="Name"><c>overlay</c>, <c>vfs</c> or <c>rootless</c> (an overlay store of the user with sub-IDs), with <c>-copy</c> for a copy.</param>
/// <param name="Driver">The graph driver, <c>overlay</c> or <c>vfs</c>.</param>
/// <param name="GraphRoot">The store's graph root.</param>
/// <param name="RunRoot">The store's run root (short: podman refuses one of more than 50 characters).</param>
/// <param name="Image">The test image in this store and its oracles.</param>
public sealed record ContainersStore(string Name, string Driver, string GraphRoot, string RunRoot, ContainersStoreImage Image)
{
    /// <summary>skopeo's store specifier, <c>[DRIVER@GRAPHROOT+RUNROOT]</c>.</summary>
    public string Specifier => $"[{Driver}@{GraphRoot}+{RunRoot}]";

    /// <summary><c>containers-storage:[DRIVER@GRAPHROOT+RUNROOT]NAME</c>.</summary>
    public string Reference(string name = ContainersStores.Image) => "containers-storage:" + Specifier + name;

    /// <summary>The global options that point podman, buildah or skopeo's library at this store.</summary>
    public string[] StoreOptions => ["--root", GraphRoot, "--runroot", RunRoot, "--storage-driver", Driver];

    /// <summary>The directory of one layer's files: <c>overlay/ID/diff</c>, or <c>vfs/dir/ID</c> (the whole tree up to that layer).</summary>
    public string LayerDirectory(string layerId) => Driver == "vfs"
        ? Path.Combine(GraphRoot, "vfs", "dir", layerId)
        : Path.Combine(GraphRoot, "overlay", layerId, "diff");

    /// <summary>The driver's layer records: <c>DRIVER-layers/</c>, with layers.json, layers.lock and the tar-split files.</summary>
    public string LayersDirectory => Path.Combine(GraphRoot, Driver + "-layers");

    public override string ToString() => Name;
}

/// <summary>The test image as one store holds it, and the same image through the other tools.</summary>
public sealed record ContainersStoreImage
{
    /// <summary>The image's ID (the config digest's hex) in the store.</summary>
    public required string Id { get; init; }

    /// <summary>The storage layers of the image, bottom first: their IDs and diff_ids (from layers.json).</summary>
    public required IReadOnlyList<(string Id, string DiffId)> Layers { get; init; }

    /// <summary>An OCI layout, tag <see cref="RealImages.Tag"/>, that <c>skopeo copy containers-storage:… oci:…</c> made.</summary>
    public required string OciLayout { get; init; }

    /// <summary>The image on the test registry, <c>docker://127.0.0.1:PORT/cstore/NAME:latest</c>, pushed by skopeo.</summary>
    public required string RegistryReference { get; init; }

    /// <summary><c>umoci unpack</c> (as root) of <see cref="OciLayout"/>.</summary>
    public required TreeSnapshot UmociTree { get; init; }

    /// <summary>Decant's directory export of <see cref="RegistryReference"/> (exact owners).</summary>
    public required TreeSnapshot RegistryTree { get; init; }
}

/// <summary>
/// Private containers-storage stores built once per test run with Debian's buildah (and read by its
/// podman and skopeo): a root <c>overlay</c> store, a root <c>vfs</c> store, and a <c>rootless</c>
/// overlay store built by the dedicated unprivileged user <see cref="RootlessUserName"/>, whose files
/// belong to that user's sub-IDs on disk. Each holds the image of <c>tests/fixtures/build-cstore.sh</c>
/// (whiteouts, an opaque directory, hardlinks within and across layers, user.* xattrs, a file
/// capability, setuid, a 0600 file of uid 1234, symlinks, a non-UTF-8 name, an empty layer), which is
/// also pushed to a registry of the fixture's own and unpacked by umoci, to compare with.
/// </summary>
/// <remarks>
/// The rootless user is created here, at need, and only here: a system user (<c>useradd --system</c>,
/// no home, no login shell) with one range of 65536 sub-IDs in /etc/subuid and /etc/subgid starting
/// at <see cref="SubIdStart"/>. An existing user or range is reused as it is; a range of another user
/// overlapping it fails the fixture instead of sharing IDs.
/// Needs root and the tools of <c>scripts/install-test-tools.sh</c> (podman, buildah, skopeo, umoci,
/// uidmap); without them every test of the collection fails.
/// </remarks>
public sealed class ContainersStores : IAsyncLifetime
{
    /// <summary>The test image's name in every store.</summary>
    public const string Image = "localhost/cstore/test:latest";

    /// <summary>The unprivileged user that owns the rootless store.</summary>
    public const string RootlessUserName = "decant-rootless";

    /// <summary>The first sub-ID the fixture gives <see cref="RootlessUserName"/> (65536 of them).</summary>
    public const long SubIdStart = 1_000_000;

    public const long SubIdCount = 65536;

    /// <summary>
    /// The empty xattr the rootless store's layers carry on what buildah's rootless (userxattr) overlay
    /// copied up; containers/storage writes it into the layer tar.
    /// </summary>
    public const string OverlayOriginXattr = "user.overlay.origin";

    /// <summary>
    /// What a comparison of a rootless-store export with <c>umoci unpack</c> must ignore: umoci 0.4.7
    /// drops empty xattr values, so <see cref="OverlayOriginXattr"/>, which is empty, is missing on its side.
    /// </summary>
    public static SnapshotCompareOptions UmociRootlessQuirk => new SnapshotCompareOptions().IgnoreXattr(OverlayOriginXattr);

    private string _root = "";
    private string _runRoots = "";
    private int _runRootCount;

    public RealImages Images { get; } = new();

    public RegistryServer Registry { get; private set; } = null!;

    public ContainersStore Overlay { get; private set; } = null!;

    public ContainersStore Vfs { get; private set; } = null!;

    public ContainersStore Rootless { get; private set; } = null!;

    /// <summary>The first sub-uid and sub-gid of <see cref="RootlessUserName"/> (uid 1 of its namespace), from /etc/subuid and /etc/subgid.</summary>
    public (long Uid, long Gid) RootlessSubIdStart { get; private set; }

    /// <summary>The user that built <see cref="Rootless"/>, and whose workspace holds it.</summary>
    internal UnprivilegedUser RootlessUser { get; private set; } = null!;

    /// <summary>The root stores by <see cref="ContainersStore.Name"/>.</summary>
    public ContainersStore RootStore(string name) => name switch
    {
        "overlay" => Overlay,
        "vfs" => Vfs,
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, "a root store is overlay or vfs"),
    };

    public async Task InitializeAsync()
    {
        if (!Environment.IsPrivilegedProcess)
        {
            throw new InvalidOperationException("the containers-storage tests build stores with buildah as root and switch users; run the tests as root");
        }
        await Images.InitializeAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        var token = timeout.Token;
        _root = Images.NewScratchDirectory("cstores");
        // podman refuses a run root longer than 50 characters (sockets live there), so run roots are short.
        _runRoots = Directory.CreateTempSubdirectory("decant-cs-").FullName;
        await Tools.RunCheckedAsync("chmod", ["0755", _runRoots], token);
        Registry = await RegistryServer.StartAsync(Path.Combine(_root, "registry"), Path.Combine(_root, "registry-storage"), "", token);

        var (uid, gid) = await EnsureRootlessUserAsync(token);
        RootlessSubIdStart = (await SubIdStartAsync("/etc/subuid", token), await SubIdStartAsync("/etc/subgid", token));
        RootlessUser = await UnprivilegedUser.CreateWithSubIdsAsync(Images, uid, gid, token);

        var overlay = BuildAsync("overlay", "overlay", Path.Combine(_root, "overlay"), null, token);
        var vfs = BuildAsync("vfs", "vfs", Path.Combine(_root, "vfs"), null, token);
        var rootless = BuildAsync("rootless", "overlay", Path.Combine(RootlessUser.Workspace, "store"), RootlessUser, token);
        try
        {
            Overlay = await overlay;
            Vfs = await vfs;
            Rootless = await rootless;
        }
        finally
        {
            await UnmountStoresAsync();
        }
    }

    public async Task DisposeAsync()
    {
        if (Registry is not null)
        {
            await Registry.DisposeAsync();
        }
        await UnmountStoresAsync();
        if (_runRoots.Length > 0)
        {
            await Tools.RunCheckedAsync("rm", ["-rf", "--", _runRoots], CancellationToken.None);
        }
        await Images.DisposeAsync();
    }

    /// <summary>
    /// Unmounts what root's podman, buildah and skopeo leave mounted in this fixture's scratch
    /// directories: the overlay driver bind-mounts GRAPHROOT/overlay on itself (to make it a private
    /// mount) and does not undo that when the tool exits. Deepest first.
    /// </summary>
    public async Task UnmountStoresAsync()
    {
        if (_root.Length == 0)
        {
            return;
        }
        string[] mine = [Path.GetDirectoryName(_root)! + "/", _runRoots + "/"];
        var mountPoints = File.ReadLines("/proc/self/mountinfo").Select(line => line.Split(' ')[4])
            .Where(mountPoint => mine.Any(directory => mountPoint.StartsWith(directory, StringComparison.Ordinal)))
            .Distinct(StringComparer.Ordinal).OrderByDescending(mountPoint => mountPoint.Length).ToList();
        foreach (string mountPoint in mountPoints)
        {
            await Tools.RunCheckedAsync("umount", [mountPoint], CancellationToken.None);
        }
    }

    /// <summary>A new, empty directory for one test, removed when the collection finishes.</summary>
    public string NewScratchDirectory(string purpose) => Images.NewScratchDirectory(purpose);

    /// <summary>
    /// Copies <paramref name="store"/>'s graph root to <paramref name="directory"/>/root (cp -a: owners,
    /// modes, xattrs, whiteout devices; reflinked where the filesystem can) with a new, empty run root,
    /// so a test may change, lock or corrupt it. The copy holds the same image, so it shares the oracles.
    /// </summary>
    public async Task<ContainersStore> CopyAsync(ContainersStore store, string directory, CancellationToken cancellationToken)
    {
        string graphRoot = Path.Combine(directory, "root");
        Directory.CreateDirectory(directory);
        await Tools.RunCheckedAsync("cp", ["-a", "--", store.GraphRoot, graphRoot], cancellationToken);
        return new ContainersStore(store.Name + "-copy", store.Driver, graphRoot, NewRunRoot(store.Name + "-copy"), store.Image);
    }

    /// <summary>A new, empty run root, short enough for podman.</summary>
    private string NewRunRoot(string name)
    {
        string runRoot = Path.Combine(_runRoots, $"{name}-{Interlocked.Increment(ref _runRootCount)}");
        Directory.CreateDirectory(runRoot);
        return runRoot;
    }

    /// <summary>
    /// Runs podman on <paramref name="store"/> without touching the host's own state: its temporary
    /// directory (podman's bolt database) inside the run root, no events, cgroupfs.
    /// </summary>
    public static Task<ToolResult> PodmanAsync(ContainersStore store, IEnumerable<string> arguments, CancellationToken cancellationToken) =>
        Tools.RunAsync("podman", [.. PodmanOptions(store), .. arguments], cancellationToken);

    /// <summary>The global options of <see cref="PodmanAsync"/>, for a podman started some other way.</summary>
    public static string[] PodmanOptions(ContainersStore store) =>
        [.. store.StoreOptions, "--tmpdir", Path.Combine(store.RunRoot, "libpod-tmp"), "--events-backend", "none", "--cgroup-manager", "cgroupfs"];

    private async Task<ContainersStore> BuildAsync(string name, string driver, string directory, UnprivilegedUser? user, CancellationToken cancellationToken)
    {
        string graphRoot = Path.Combine(directory, "root");
        string runRoot = NewRunRoot(name);
        string[] build = [Path.Combine(Images.RepositoryRoot, "tests", "fixtures", "build-cstore.sh"), graphRoot, runRoot, driver, Path.Combine(directory, "work")];
        string layout = Path.Combine(directory, "oci");
        string source = $"containers-storage:[{driver}@{graphRoot}+{runRoot}]{Image}";
        string[] toLayout = ["--insecure-policy", "copy", "--quiet", source, $"oci:{layout}:{RealImages.Tag}"];
        if (user is null)
        {
            Directory.CreateDirectory(directory);
            await Tools.RunCheckedAsync("bash", build, cancellationToken);
            await Tools.RunCheckedAsync("skopeo", toLayout, cancellationToken);
        }
        else
        {
            Directory.CreateDirectory(directory);
            await Tools.RunCheckedAsync("chown", [$"{user.Uid}:{user.Gid}", directory, runRoot], cancellationToken);
            await user.RunAsync("bash", build, cancellationToken);
            // skopeo enters the user's namespace itself to read a rootless store.
            await user.RunAsync("skopeo", toLayout, cancellationToken);
            await AssertOwnedBySubIdsAsync(graphRoot, user, RootlessSubIdStart, cancellationToken);
        }

        string repository = "cstore/" + name;
        await Tools.RunCheckedAsync("skopeo", ["--insecure-policy", "copy", "--quiet", "--dest-tls-verify=false", $"oci:{layout}:{RealImages.Tag}", $"docker://{Registry.Host}/{repository}:{RealImages.Tag}"], cancellationToken);
        string registryReference = $"docker://{Registry.Host}/{repository}:{RealImages.Tag}";

        var umoci = await DecantRuns.UmociUnpackAsync(Images, layout, RealImages.Tag, cancellationToken);
        var fromRegistry = await RegistryExport.ExportAsync(registryReference, SourceOptions.Default, Path.Combine(Images.NewScratchDirectory("cstore-registry-" + name), "rootfs"), null, cancellationToken);
        using var images = JsonDocument.Parse(await File.ReadAllBytesAsync(Path.Combine(graphRoot, driver + "-images", "images.json"), cancellationToken));
        using var layers = JsonDocument.Parse(await File.ReadAllBytesAsync(Path.Combine(graphRoot, driver + "-layers", "layers.json"), cancellationToken));
        var image = images.RootElement.EnumerateArray()
            .Single(image => image.TryGetProperty("names", out var names) && names.EnumerateArray().Any(n => n.GetString() == Image));
        return new ContainersStore(name, driver, graphRoot, runRoot, new ContainersStoreImage
        {
            Id = image.GetProperty("id").GetString()!,
            Layers = LayerChain(layers.RootElement, image.GetProperty("layer").GetString()!),
            OciLayout = layout,
            RegistryReference = registryReference,
            UmociTree = umoci,
            RegistryTree = fromRegistry,
        });
    }

    /// <summary>The layer chain that ends in <paramref name="top"/>, from layers.json, bottom first.</summary>
    private static List<(string Id, string DiffId)> LayerChain(JsonElement layers, string top)
    {
        var byId = layers.EnumerateArray().ToDictionary(layer => layer.GetProperty("id").GetString()!, StringComparer.Ordinal);
        var chain = new List<(string Id, string DiffId)>();
        for (string? id = top; id is not null;)
        {
            var layer = byId[id];
            chain.Add((id, layer.GetProperty("diff-digest").GetString()!));
            id = layer.TryGetProperty("parent", out var parent) ? parent.GetString() : null;
        }
        chain.Reverse();
        return chain;
    }

    /// <summary>Proves the rootless store is one: the image's 0600 file of uid 1234 belongs to the sub-ID that maps to 1234.</summary>
    private static async Task AssertOwnedBySubIdsAsync(string graphRoot, UnprivilegedUser user, (long Uid, long Gid) subIdStart, CancellationToken cancellationToken)
    {
        var found = await Tools.RunCheckedAsync("find", [Path.Combine(graphRoot, "overlay"), "-path", "*/diff/data/owners/secret", "-printf", "%U:%G %m\n"], cancellationToken);
        string expected = $"{subIdStart.Uid + 1233}:{subIdStart.Gid + 1233} 600";
        if (found.StandardOutput.Trim() != expected)
        {
            throw new InvalidOperationException($"the rootless store's data/owners/secret is \"{found.StandardOutput.Trim()}\" on disk, not {expected} (uid 1234 through {user.Uid}'s sub-IDs)");
        }
    }

    private static async Task<long> SubIdStartAsync(string file, CancellationToken cancellationToken)
    {
        string line = (await File.ReadAllLinesAsync(file, cancellationToken)).First(line => line.StartsWith(RootlessUserName + ":", StringComparison.Ordinal));
        return long.Parse(line.Split(':')[1], CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// Makes <see cref="RootlessUserName"/> (a system user without home or shell) and its sub-ID ranges
    /// unless they exist; returns its uid and gid.
    /// </summary>
    private static async Task<(uint Uid, uint Gid)> EnsureRootlessUserAsync(CancellationToken cancellationToken)
    {
        if ((await Tools.RunAsync("getent", ["passwd", RootlessUserName], cancellationToken)).ExitCode != 0)
        {
            await Tools.RunCheckedAsync("useradd", ["--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", RootlessUserName], cancellationToken);
        }
        string range = $"{SubIdStart}-{SubIdStart + SubIdCount - 1}";
        foreach (var (file, option) in new[] { ("/etc/subuid", "--add-subuids"), ("/etc/subgid", "--add-subgids") })
        {
            var lines = File.Exists(file) ? await File.ReadAllLinesAsync(file, cancellationToken) : [];
            if (lines.Any(line => line.StartsWith(RootlessUserName + ":", StringComparison.Ordinal)))
            {
                continue;
            }
            foreach (string line in lines.Where(line => line.Split(':') is { Length: 3 }))
            {
                string[] fields = line.Split(':');
                if (long.TryParse(fields[1], CultureInfo.InvariantCulture, out long start) && long.TryParse(fields[2], CultureInfo.InvariantCulture, out long count)
                    && start < SubIdStart + SubIdCount && SubIdStart < start + count)
                {
                    throw new InvalidOperationException($"{file} gives {fields[0]} {start}+{count}, which overlaps the range {range} the containers-storage tests give {RootlessUserName}");
                }
            }
            await Tools.RunCheckedAsync("usermod", [option, range, RootlessUserName], cancellationToken);
        }
        string uid = (await Tools.RunCheckedAsync("id", ["-u", RootlessUserName], cancellationToken)).StandardOutput.Trim();
        string gid = (await Tools.RunCheckedAsync("id", ["-g", RootlessUserName], cancellationToken)).StandardOutput.Trim();
        return (uint.Parse(uid, CultureInfo.InvariantCulture), uint.Parse(gid, CultureInfo.InvariantCulture));
    }
}

/// <summary>The xunit collection whose tests share one <see cref="ContainersStores"/>.</summary>
[CollectionDefinition(Name)]
public sealed class UsesContainersStores : ICollectionFixture<ContainersStores>
{
    public const string Name = "Containers stores";
}
