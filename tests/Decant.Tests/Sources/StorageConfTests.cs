using Decant.Model;
using Decant.Sources.ContainersStorage;
using Decant.Tests.Support;

namespace Decant.Tests.Sources;

/// <summary>
/// storage.conf read with Tomlyn and the default store resolved as containers/storage does, for
/// root and for a rootless user, with temporary config files, an explicit environment and
/// effective user ID, and system files that are the test's own (never the machine's).
/// </summary>
public sealed class StorageConfTests : IDisposable
{
    private const uint User = 4242;
    private readonly ScratchDirectory _scratch = new();

    public void Dispose() => _scratch.Dispose();

    private string AdministratorFile => _scratch.Combine("etc", "storage.conf");

    private string DistributionFile => _scratch.Combine("usr-share", "storage.conf");

    private string Home => _scratch.Combine("home");

    private string RunDirectory => _scratch.Combine("run-user");

    /// <summary>A rootless user's environment: HOME and XDG_RUNTIME_DIR in the scratch directory, plus <paramref name="more"/>.</summary>
    private Dictionary<string, string> UserEnvironment(params (string Name, string Value)[] more)
    {
        var environment = new Dictionary<string, string> { ["HOME"] = Home, ["XDG_RUNTIME_DIR"] = RunDirectory, ["USER"] = "alice" };
        foreach (var (name, value) in more)
        {
            environment[name] = value;
        }
        return environment;
    }

    private Task<StoreLocation> ResolveAsync(Dictionary<string, string> environment, uint effectiveUserId) =>
        StorageConf.ResolveDefaultAsync(name => environment.GetValueOrDefault(name), effectiveUserId, [AdministratorFile, DistributionFile], CancellationToken.None);

    private static string Write(string path, string text)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    public async Task RootWithoutAnyFileGetsTheDefaults()
    {
        var location = await ResolveAsync(new() { ["STORAGE_DRIVER"] = "vfs" }, 0);
        Assert.Equal(new StoreLocation("vfs", "/var/lib/containers/storage", "/run/containers/storage", null), location);
    }

    [Fact]
    public async Task RootReadsTheAdministratorsFileThenTheDistributionsThenXdgConfigHome()
    {
        string configHome = _scratch.Combine("config");
        string xdgFile = Write(Path.Combine(configHome, "containers", "storage.conf"), "[storage]\ndriver = \"vfs\"\ngraphroot = \"/srv/xdg\"\n");
        var environment = new Dictionary<string, string> { ["XDG_CONFIG_HOME"] = configHome };
        Assert.Equal(new StoreLocation("vfs", "/srv/xdg", "/run/containers/storage", xdgFile), await ResolveAsync(environment, 0));
        Write(DistributionFile, "[storage]\ndriver = \"overlay\"\ngraphroot = \"/srv/distribution\"\n");
        Assert.Equal(new StoreLocation("overlay", "/srv/distribution", "/run/containers/storage", DistributionFile), await ResolveAsync(environment, 0));
        Write(AdministratorFile, "[storage]\ndriver = \"vfs\"\nrunroot = \"/run/administrator\"\ngraphroot = \"/srv/administrator\"\n");
        Assert.Equal(new StoreLocation("vfs", "/srv/administrator", "/run/administrator", AdministratorFile), await ResolveAsync(environment, 0));
    }

    [Fact]
    public void ReadsTheSettingsAndIgnoresUnknownKeys()
    {
        var settings = StorageConf.Parse("""
            # the Debian default, trimmed
            [storage]
            driver = "overlay"
            runroot = "/run/containers/storage"
            graphroot = "/var/lib/containers/storage"
            rootless_storage_path = "$HOME/.local/share/containers/storage"
            transient_store = false
            driver_priority = ["overlay", "vfs"]

            [storage.options]
            additionalimagestores = ["/usr/lib/containers/storage", "/mnt/images"]
            pull_options = {enable_partial_images = "false", use_hard_links = "false"}

            [storage.options.overlay]
            mountopt = "nodev"

            [other]
            anything = 1
            """, "storage.conf");
        Assert.Equal("overlay", settings.Driver);
        Assert.Equal("/run/containers/storage", settings.RunRoot);
        Assert.Equal("/var/lib/containers/storage", settings.GraphRoot);
        Assert.Equal("$HOME/.local/share/containers/storage", settings.RootlessStoragePath);
        Assert.Equal(["/usr/lib/containers/storage", "/mnt/images"], settings.AdditionalImageStores);
        var empty = StorageConf.Parse("[storage]\ndriver = \"\"\n", "storage.conf");
        Assert.Equal((null, null, null, null), (empty.Driver, empty.GraphRoot, empty.RunRoot, empty.RootlessStoragePath));
        Assert.Empty(empty.AdditionalImageStores);
        Assert.Equal(StorageSettings.None.AdditionalImageStores, StorageConf.Parse("", "storage.conf").AdditionalImageStores);
    }

    [Fact]
    public async Task ContainersStorageConfOverridesEveryOtherFileForRootAndRootless()
    {
        Write(AdministratorFile, "[storage]\ndriver = \"overlay\"\ngraphroot = \"/srv/administrator\"\n");
        Write(Path.Combine(Home, ".config", "containers", "storage.conf"), "[storage]\ngraphroot = \"/srv/user\"\n");
        string chosen = Write(_scratch.Combine("chosen.conf"), "[storage]\ndriver = \"vfs\"\ngraphroot = \"/srv/chosen\"\nrunroot = \"/run/chosen\"\n");
        Assert.Equal(new StoreLocation("vfs", "/srv/chosen", "/run/chosen", chosen), await ResolveAsync(new() { ["CONTAINERS_STORAGE_CONF"] = chosen }, 0));
        Assert.Equal(new StoreLocation("vfs", "/srv/chosen", "/run/chosen", chosen), await ResolveAsync(UserEnvironment(("CONTAINERS_STORAGE_CONF", chosen)), User));

        // For a rootless user its graph root falls back to its rootless_storage_path, its run root to the user's.
        Write(chosen, "[storage]\nrootless_storage_path = \"$HOME/chosen\"\n");
        Assert.Equal(new StoreLocation("overlay", Path.Combine(Home, "chosen"), Path.Combine(RunDirectory, "containers"), chosen), await ResolveAsync(UserEnvironment(("CONTAINERS_STORAGE_CONF", chosen)), User));
    }

    [Fact]
    public async Task AdditionalImageStoresComeFromTheFileThatWinsExpanded()
    {
        Write(AdministratorFile, "[storage]\ndriver = \"overlay\"\n[storage.options]\nadditionalimagestores = [\"/srv/ro-$UID\", \"$HOME/ro\"]\n");
        Assert.Equal(["/srv/ro-0", Path.Combine(Home, "ro")], (await ResolveAsync(new() { ["HOME"] = Home }, 0)).AdditionalImageStores);
        // A rootless user without a file of their own has the system's; with one, only theirs.
        Assert.Equal([$"/srv/ro-{User}", Path.Combine(Home, "ro")], (await ResolveAsync(UserEnvironment(), User)).AdditionalImageStores);
        Write(Path.Combine(Home, ".config", "containers", "storage.conf"), "[storage]\ngraphroot = \"/srv/user\"\n");
        Assert.Empty((await ResolveAsync(UserEnvironment(), User)).AdditionalImageStores);
    }

    [Fact]
    public async Task AMissingContainersStorageConfIsAnError()
    {
        string missing = _scratch.Combine("missing.conf");
        var error = await Assert.ThrowsAsync<DecantException>(() => ResolveAsync(new() { ["CONTAINERS_STORAGE_CONF"] = missing }, 0));
        Assert.Equal(DecantErrorKind.Usage, error.Kind);
        Assert.Equal($"CONTAINERS_STORAGE_CONF names \"{missing}\", which does not exist", error.Message);
    }

    [Fact]
    public async Task ARootlessUserWithoutFilesGetsTheXdgDefaults()
    {
        var location = await ResolveAsync(UserEnvironment(), User);
        Assert.Equal(new StoreLocation("overlay", Path.Combine(Home, ".local", "share", "containers", "storage"), Path.Combine(RunDirectory, "containers"), null), location);
        string dataHome = _scratch.Combine("data");
        Assert.Equal(Path.Combine(dataHome, "containers", "storage"), (await ResolveAsync(UserEnvironment(("XDG_DATA_HOME", dataHome)), User)).GraphRoot);
    }

    [Fact]
    public async Task ARootlessUserTakesTheSystemsRootlessStoragePathAndARootlessDriver()
    {
        Write(AdministratorFile, """
            [storage]
            driver = "vfs"
            graphroot = "/var/lib/containers/storage"
            runroot = "/run/containers/storage"
            rootless_storage_path = "${HOME}/stores/$UID/$USER/./x/../storage/"
            """);
        var location = await ResolveAsync(UserEnvironment(), User);
        Assert.Equal(new StoreLocation("vfs", Path.Combine(Home, "stores", "4242", "alice", "storage"), Path.Combine(RunDirectory, "containers"), AdministratorFile), location);

        // A driver a rootless user cannot use is not taken from the system.
        Write(AdministratorFile, "[storage]\ndriver = \"zfs\"\n");
        Assert.Equal("overlay", (await ResolveAsync(UserEnvironment(), User)).Driver);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task ARootlessUsersOwnFileOverridesTheSystemsWhole(bool xdgConfigHome)
    {
        Write(AdministratorFile, "[storage]\ndriver = \"vfs\"\nrootless_storage_path = \"/srv/rootless/$UID\"\n");
        string configHome = xdgConfigHome ? _scratch.Combine("config") : Path.Combine(Home, ".config");
        string userFile = Write(Path.Combine(configHome, "containers", "storage.conf"), "[storage]\nrunroot = \"/run/mine\"\n");
        var environment = xdgConfigHome ? UserEnvironment(("XDG_CONFIG_HOME", configHome)) : UserEnvironment();

        // The system's driver is not the user's; the graph root defaults to the system's rootless_storage_path, as in containers/storage.
        Assert.Equal(new StoreLocation("overlay", "/srv/rootless/4242", "/run/mine", userFile), await ResolveAsync(environment, User));
        Write(userFile, "[storage]\nrootless_storage_path = \"$HOME/mine\"\n");
        Assert.Equal(new StoreLocation("overlay", Path.Combine(Home, "mine"), Path.Combine(RunDirectory, "containers"), userFile), await ResolveAsync(environment, User));
        Write(userFile, "[storage]\ndriver = \"vfs\"\ngraphroot = \"$HOME/graph\"\nrootless_storage_path = \"$HOME/mine\"\n");
        Assert.Equal(new StoreLocation("vfs", Path.Combine(Home, "graph"), Path.Combine(RunDirectory, "containers"), userFile), await ResolveAsync(environment, User));
    }

    [Fact]
    public async Task PodmanUnshareRootIsTheRootlessUser()
    {
        var location = await ResolveAsync(UserEnvironment(("_CONTAINERS_ROOTLESS_UID", "4242"), ("_CONTAINERS_USERNS_CONFIGURED", "done")), 0);
        Assert.Equal(Path.Combine(Home, ".local", "share", "containers", "storage"), location.GraphRoot);
    }

    [Fact]
    public async Task TheDriverIsTheEnvironmentsThenTheFilesThenTheStoresThenOverlay()
    {
        string graphRoot = _scratch.Combine("graph");
        string file = Write(_scratch.Combine("storage.conf"), $"[storage]\ngraphroot = \"{graphRoot}\"\n");
        Task<StoreLocation> Resolve(params (string, string)[] more) =>
            ResolveAsync(new Dictionary<string, string>(more.Select(m => KeyValuePair.Create(m.Item1, m.Item2))) { ["CONTAINERS_STORAGE_CONF"] = file }, 0);

        Assert.Equal("overlay", (await Resolve()).Driver); // no graph root yet
        Directory.CreateDirectory(Path.Combine(graphRoot, "vfs-images"));
        Directory.CreateDirectory(Path.Combine(graphRoot, "vfs-layers"));
        Assert.Equal("vfs", (await Resolve()).Driver);
        Directory.CreateDirectory(Path.Combine(graphRoot, "overlay-images"));
        Assert.Equal("overlay", (await Resolve()).Driver); // the first in name order, as containers/storage lists them
        Write(file, $"[storage]\ndriver = \"overlay2\"\ngraphroot = \"{graphRoot}\"\n");
        Assert.Equal("overlay", (await Resolve()).Driver);
        Write(file, $"[storage]\ndriver = \"vfs\"\ngraphroot = \"{graphRoot}\"\n");
        Assert.Equal("vfs", (await Resolve()).Driver);
        Assert.Equal("btrfs", (await Resolve(("STORAGE_DRIVER", "btrfs"))).Driver);

        // The same for a rootless user.
        Directory.CreateDirectory(Path.Combine(Home, ".local", "share", "containers", "storage", "vfs-images"));
        Assert.Equal("vfs", (await ResolveAsync(UserEnvironment(), User)).Driver);
        Assert.Equal("overlay", (await ResolveAsync(UserEnvironment(("STORAGE_DRIVER", "overlay")), User)).Driver);
    }

    [Fact]
    public async Task WithoutXdgRuntimeDirTheRunRootIsUnderTmpdir()
    {
        const uint Stranger = 4_000_000_000; // no /run/user directory of its own
        var environment = UserEnvironment(("TMPDIR", _scratch.Path));
        environment.Remove("XDG_RUNTIME_DIR");
        string runDirectory = _scratch.Combine($"storage-run-{Stranger}");
        Assert.Equal(Path.Combine(runDirectory, "containers"), (await ResolveAsync(environment, Stranger)).RunRoot);

        Directory.CreateDirectory(runDirectory); // owned by the test's user, not the stranger
        var error = await Assert.ThrowsAsync<DecantException>(() => ResolveAsync(environment, Stranger));
        Assert.Equal(DecantErrorKind.Usage, error.Kind);
        Assert.Contains($"\"{runDirectory}\"", error.Message, StringComparison.Ordinal);
        Assert.Contains("not writable only by user 4000000000", error.Message, StringComparison.Ordinal);

        // Once it is the stranger's and only theirs to write (the suite runs as root, so it can hand it over).
        await Tools.RunCheckedAsync("chown", [$"{Stranger}", runDirectory], CancellationToken.None);
        await Tools.RunCheckedAsync("chmod", ["0741", runDirectory], CancellationToken.None);
        Assert.Equal(Path.Combine(runDirectory, "containers"), (await ResolveAsync(environment, Stranger)).RunRoot);
        await Tools.RunCheckedAsync("chmod", ["0770", runDirectory], CancellationToken.None);
        await Assert.ThrowsAsync<DecantException>(() => ResolveAsync(environment, Stranger));
    }

    [Theory]
    [InlineData("[storage]\ngraphroot = \"/a\"\ngraphroot = \"/b\"\n", ":3: ", "already defined")]
    [InlineData("[storage]\ndriver = overlay\n", ":2: ", "")]
    [InlineData("[storage]\n\ngraphroot = 5\n", ":3: graphroot in [storage] must be a string, not the number 5", "")]
    [InlineData("[storage.options]\nadditionalimagestores = \"/mnt/images\"\n", ":2: additionalimagestores in [storage.options] must be an array of strings, not the string \"/mnt/images\"", "")]
    [InlineData("[storage.options]\nadditionalimagestores = [\"/mnt\", 1]\n", ":2: additionalimagestores in [storage.options] must be an array of strings, not the number 1", "")]
    [InlineData("storage = \"overlay\"\n", ":1: storage in the top-level table must be a table, not the string \"overlay\"", "")]
    public async Task AMalformedFileIsAnErrorNamingTheFileAndTheLine(string text, string start, string what)
    {
        string file = Write(AdministratorFile, text);
        var error = await Assert.ThrowsAsync<DecantException>(() => ResolveAsync([], 0));
        Assert.Equal(DecantErrorKind.Usage, error.Kind);
        Assert.StartsWith(file + start, error.Message, StringComparison.Ordinal);
        Assert.Contains(what, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TheProcessesOwnResolutionWorks()
    {
        var location = await StorageConf.ResolveDefaultAsync(CancellationToken.None);
        Assert.NotEmpty(location.Driver);
        Assert.True(Path.IsPathRooted(location.GraphRoot));
        Assert.True(Path.IsPathRooted(location.RunRoot));
    }
}
