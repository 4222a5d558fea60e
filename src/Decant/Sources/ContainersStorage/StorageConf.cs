using System.Globalization;
using System.Text;
using Decant.Interop;
using Decant.Model;
using Tomlyn.Model;

namespace Decant.Sources.ContainersStorage;

/// <summary>Where a containers-storage store lives and which driver keeps it.</summary>
/// <param name="Driver">The storage driver (<c>overlay</c>, <c>vfs</c>, …); never empty.</param>
/// <param name="GraphRoot">The store's root directory, where images and layers live.</param>
/// <param name="RunRoot">The store's run directory (mount state, runtime locks).</param>
/// <param name="ConfigFile">The storage.conf the settings came from, or null when none was read (all defaults).</param>
internal sealed record StoreLocation(string Driver, string GraphRoot, string RunRoot, string? ConfigFile)
{
    /// <summary>Read-only stores (<c>additionalimagestores</c>) an image is looked for in when the store does not have it, in order.</summary>
    public IReadOnlyList<string> AdditionalImageStores { get; init; } = [];
}

/// <summary>The settings of one storage.conf that Decant uses, as written (not expanded); null or empty when absent.</summary>
/// <param name="Driver"><c>[storage] driver</c>.</param>
/// <param name="GraphRoot"><c>[storage] graphroot</c>.</param>
/// <param name="RunRoot"><c>[storage] runroot</c>.</param>
/// <param name="RootlessStoragePath"><c>[storage] rootless_storage_path</c>: the graph root of rootless users.</param>
/// <param name="AdditionalImageStores"><c>[storage.options] additionalimagestores</c>: read-only stores images are also looked up in.</param>
internal sealed record StorageSettings(string? Driver, string? GraphRoot, string? RunRoot, string? RootlessStoragePath, IReadOnlyList<string> AdditionalImageStores)
{
    /// <summary>No storage.conf: nothing set.</summary>
    public static StorageSettings None { get; } = new(null, null, null, null, []);
}

/// <summary>
/// containers-storage.conf(5), read with Tomlyn (<see cref="TomlConfigFile"/>: unknown keys are
/// ignored, a malformed file is a <see cref="DecantErrorKind.Usage"/> error naming the file and
/// line), and the default store resolved as containers/storage (podman, buildah) resolves it:
/// <list type="bullet">
/// <item>The file: <c>CONTAINERS_STORAGE_CONF</c> when set (it must exist). Otherwise, as root,
/// <c>/etc/containers/storage.conf</c>, then <c>/usr/share/containers/storage.conf</c>, then
/// <c>$XDG_CONFIG_HOME/containers/storage.conf</c> when <c>XDG_CONFIG_HOME</c> is set. A
/// rootless user's own <c>$XDG_CONFIG_HOME/containers/storage.conf</c> (<c>~/.config</c> without
/// it) overrides the system's (<c>CONTAINERS_STORAGE_CONF</c>, else the administrator's, else
/// the distribution's) whole, but for the system's <c>rootless_storage_path</c>, which still
/// gives the default graph root, as in containers/storage; without a file of the user's own, the
/// system's <c>rootless_storage_path</c> and (when a rootless user can use it: btrfs, overlay,
/// vfs) driver apply.</item>
/// <item>Root's defaults: graph root <c>/var/lib/containers/storage</c>, run root
/// <c>/run/containers/storage</c>. A rootless user's: graph root <c>rootless_storage_path</c> or
/// <c>$XDG_DATA_HOME/containers/storage</c> (<c>~/.local/share</c> without it), run root
/// <c>$XDG_RUNTIME_DIR/containers</c>, without it <c>/run/user/UID/containers</c> when that
/// directory is the user's alone, else <c>$TMPDIR/storage-run-UID/containers</c>.</item>
/// <item>Paths: <c>$UID</c> becomes the user's ID, then <c>$NAME</c> and <c>${NAME}</c> the
/// environment's values (<c>$HOME</c>, <c>$USER</c>, …), as Go's <c>os.ExpandEnv</c> does; then
/// the path is cleaned lexically (containers/storage also resolves symlinks; the files found are
/// the same).</item>
/// <item>The driver: <c>STORAGE_DRIVER</c> when set (it overrides the file, as in
/// containers/storage), else the file's, else the store's own (the first <c>DRIVER-images</c>
/// directory in the graph root), else overlay; <c>overlay2</c> means overlay.</item>
/// </list>
/// The user is rootless when <c>_CONTAINERS_ROOTLESS_UID</c> (set by <c>podman unshare</c>) or
/// else the effective user ID is not 0.
/// </summary>
internal static class StorageConf
{
    /// <summary>The administrator's storage.conf, read before the distribution's.</summary>
    public const string AdministratorConfigFile = "/etc/containers/storage.conf";

    /// <summary>The distribution's storage.conf.</summary>
    public const string DistributionConfigFile = "/usr/share/containers/storage.conf";

    private const string RootGraphRoot = "/var/lib/containers/storage";
    private const string RootRunRoot = "/run/containers/storage";
    private const string DefaultDriver = "overlay";
    private static readonly string[] RootlessDrivers = ["btrfs", "overlay", "overlay2", "vfs"];

    /// <summary>Reads the environment and files; throws DecantException (specific message naming the file) on a bad config.</summary>
    public static Task<StoreLocation> ResolveDefaultAsync(CancellationToken cancellationToken) =>
        ResolveDefaultAsync(Environment.GetEnvironmentVariable, LibC.GetEffectiveUserId(), cancellationToken);

    /// <summary>Pure, for tests: the same resolution with an explicit environment and euid.</summary>
    public static Task<StoreLocation> ResolveDefaultAsync(Func<string, string?> environment, uint effectiveUserId, CancellationToken cancellationToken) =>
        ResolveDefaultAsync(environment, effectiveUserId, [AdministratorConfigFile, DistributionConfigFile], cancellationToken);

    /// <summary>
    /// The same resolution with the system's storage.conf files given too (the administrator's,
    /// then the distribution's), so tests need not depend on the machine's.
    /// </summary>
    internal static async Task<StoreLocation> ResolveDefaultAsync(Func<string, string?> environment, uint effectiveUserId, IReadOnlyList<string> systemConfigFiles, CancellationToken cancellationToken)
    {
        string? explicitFile = environment("CONTAINERS_STORAGE_CONF");
        if (explicitFile is not null && !File.Exists(explicitFile))
        {
            throw new DecantException(DecantErrorKind.Usage, $"CONTAINERS_STORAGE_CONF names \"{explicitFile}\", which does not exist");
        }
        string? configHome = NonEmpty(environment("XDG_CONFIG_HOME"));
        uint userId = RootlessUserId(environment, effectiveUserId);
        if (userId == 0)
        {
            string? file = explicitFile ?? FirstExisting([.. systemConfigFiles, configHome is null ? null : Path.Combine(configHome, "containers", "storage.conf")]);
            var settings = await ReadIfAnyAsync(file, cancellationToken).ConfigureAwait(false);
            string graphRoot = Expand(settings.GraphRoot ?? RootGraphRoot, userId, environment);
            return new StoreLocation(
                ChooseDriver(environment, settings.Driver, graphRoot),
                graphRoot,
                Expand(settings.RunRoot ?? RootRunRoot, userId, environment),
                file) { AdditionalImageStores = Expanded(settings.AdditionalImageStores, userId, environment) };
        }

        // A rootless user: the defaults come from the system's file; the user's own file overrides it whole.
        string? home = NonEmpty(environment("HOME")) ?? await HomeInPasswdAsync(userId, cancellationToken).ConfigureAwait(false);
        string userFile = explicitFile ?? Path.Combine(configHome ?? Path.Combine(home ?? throw NoHome(userId), ".config"), "containers", "storage.conf");
        string? systemFile = explicitFile ?? FirstExisting(systemConfigFiles);
        var system = await ReadIfAnyAsync(systemFile, cancellationToken).ConfigureAwait(false);
        string dataHome = NonEmpty(environment("XDG_DATA_HOME")) ?? Path.Combine(home ?? throw NoHome(userId), ".local", "share");
        string defaultGraphRoot = system.RootlessStoragePath ?? Path.Combine(dataHome, "containers", "storage");
        string defaultRunRoot = Path.Combine(RuntimeDirectory(environment, userId, effectiveUserId), "containers");
        if (File.Exists(userFile))
        {
            var user = await ReadSettingsAsync(userFile, cancellationToken).ConfigureAwait(false);
            string graphRoot = Expand(user.GraphRoot ?? user.RootlessStoragePath ?? defaultGraphRoot, userId, environment);
            return new StoreLocation(ChooseDriver(environment, user.Driver, graphRoot), graphRoot, Expand(user.RunRoot ?? defaultRunRoot, userId, environment), userFile)
            {
                AdditionalImageStores = Expanded(user.AdditionalImageStores, userId, environment),
            };
        }
        string rootlessGraphRoot = Expand(defaultGraphRoot, userId, environment);
        string? systemDriver = RootlessDrivers.Contains(system.Driver) ? system.Driver : null;
        return new StoreLocation(ChooseDriver(environment, systemDriver, rootlessGraphRoot), rootlessGraphRoot, Expand(defaultRunRoot, userId, environment), systemFile)
        {
            AdditionalImageStores = Expanded(system.AdditionalImageStores, userId, environment),
        };
    }

    private static IReadOnlyList<string> Expanded(IReadOnlyList<string> paths, uint userId, Func<string, string?> environment) =>
        paths.Count == 0 ? [] : [.. paths.Select(path => Expand(path, userId, environment))];

    /// <summary>Reads the settings of the storage.conf at <paramref name="path"/>.</summary>
    public static async Task<StorageSettings> ReadSettingsAsync(string path, CancellationToken cancellationToken) =>
        Settings(await TomlConfigFile.ReadAsync(path, "storage.conf", cancellationToken).ConfigureAwait(false));

    /// <summary>The settings of storage.conf <paramref name="text"/>; <paramref name="path"/> names the file in messages.</summary>
    public static StorageSettings Parse(string text, string path) => Settings(TomlConfigFile.Parse(text, path));

    private static StorageSettings Settings(TomlConfigFile file)
    {
        const string StorageTable = "[storage]";
        if (file.Table(file.Root, "storage", "the top-level table") is not { } storage)
        {
            return StorageSettings.None;
        }
        TomlTable? options = file.Table(storage, "options", StorageTable);
        return new StorageSettings(
            file.String(storage, "driver", StorageTable),
            file.String(storage, "graphroot", StorageTable),
            file.String(storage, "runroot", StorageTable),
            file.String(storage, "rootless_storage_path", StorageTable),
            options is null ? [] : file.Strings(options, "additionalimagestores", "[storage.options]"));
    }

    private static async Task<StorageSettings> ReadIfAnyAsync(string? path, CancellationToken cancellationToken) =>
        path is null ? StorageSettings.None : await ReadSettingsAsync(path, cancellationToken).ConfigureAwait(false);

    /// <summary><c>_CONTAINERS_ROOTLESS_UID</c> (a number, as <c>podman unshare</c> sets it; anything else counts as 0), else the effective user ID.</summary>
    private static uint RootlessUserId(Func<string, string?> environment, uint effectiveUserId) =>
        NonEmpty(environment("_CONTAINERS_ROOTLESS_UID")) is { } value
            ? uint.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out uint id) ? id : 0
            : effectiveUserId;

    /// <summary>
    /// The rootless runtime directory as containers/storage picks it: <c>XDG_RUNTIME_DIR</c>;
    /// else <c>/run/user/UID</c> when it is a directory of the effective user that only they can
    /// write; else <c>$TMPDIR/storage-run-UID</c> (<c>/tmp</c> without <c>TMPDIR</c>), which must
    /// be the user's alone if it exists (containers/storage creates it; Decant only reads).
    /// </summary>
    private static string RuntimeDirectory(Func<string, string?> environment, uint userId, uint effectiveUserId)
    {
        if (NonEmpty(environment("XDG_RUNTIME_DIR")) is { } runtimeDirectory)
        {
            return runtimeDirectory;
        }
        string userRun = $"/run/user/{userId}";
        if (IsPrivateDirectory(userRun, effectiveUserId) is true)
        {
            return userRun;
        }
        string temporary = Path.Combine(NonEmpty(environment("TMPDIR")) ?? "/tmp", $"storage-run-{userId}");
        return IsPrivateDirectory(temporary, effectiveUserId) is not false
            ? temporary
            : throw new DecantException(DecantErrorKind.Usage, $"XDG_RUNTIME_DIR is not set and \"{temporary}\", the run directory containers/storage uses then, exists but is not writable only by user {effectiveUserId}");
    }

    /// <summary>Whether <paramref name="path"/> (not followed if a symlink) is owned by <paramref name="userId"/> and writable only by its owner (mode &amp; 0722 = 0700); null when it does not exist.</summary>
    private static bool? IsPrivateDirectory(string path, uint userId)
    {
        try
        {
            var status = Posix.StatAt(SafeFdHandle.CurrentDirectory, path, path);
            return status.Uid == userId && (status.Mode & 0b111_010_010) == 0b111_000_000;
        }
        catch (NativeIOException error) when (error.Errno == LibC.ENOENT)
        {
            return null;
        }
        catch (NativeIOException)
        {
            return false;
        }
    }

    /// <summary>The home directory of <paramref name="userId"/> in <c>/etc/passwd</c> (for a rootless user without <c>HOME</c>), or null.</summary>
    private static async Task<string?> HomeInPasswdAsync(uint userId, CancellationToken cancellationToken)
    {
        string id = userId.ToString(CultureInfo.InvariantCulture);
        try
        {
            return (await File.ReadAllLinesAsync("/etc/passwd", cancellationToken).ConfigureAwait(false))
                .Select(line => line.Split(':'))
                .FirstOrDefault(fields => fields.Length >= 6 && fields[2] == id && fields[5].Length > 0)?[5];
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static DecantException NoHome(uint userId) =>
        new(DecantErrorKind.Usage, $"HOME is not set and /etc/passwd has no home directory for user {userId}, so the rootless storage.conf and store cannot be found");

    private static string ChooseDriver(Func<string, string?> environment, string? configured, string graphRoot)
    {
        string? driver = NonEmpty(environment("STORAGE_DRIVER")) ?? configured ?? DriverInStore(graphRoot);
        return driver is null or "overlay2" ? DefaultDriver : driver;
    }

    /// <summary>The driver whose <c>DRIVER-images</c> directory the graph root holds, the first in name order, as containers/storage detects it; null for none.</summary>
    private static string? DriverInStore(string graphRoot)
    {
        const string ImagesSuffix = "-images";
        try
        {
            return Directory.EnumerateFileSystemEntries(graphRoot)
                .Select(Path.GetFileName)
                .Where(name => name is not null && name.Length > ImagesSuffix.Length && name.EndsWith(ImagesSuffix, StringComparison.Ordinal))
                .Order(StringComparer.Ordinal)
                .Select(name => name![..^ImagesSuffix.Length])
                .FirstOrDefault();
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            return null; // no store there yet, or not one this user can list
        }
    }

    /// <summary>A path as containers/storage expands it: <c>$UID</c>, then the environment's variables, then cleaned.</summary>
    private static string Expand(string path, uint userId, Func<string, string?> environment)
    {
        string expanded = ExpandVariables(path.Replace("$UID", userId.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal), environment);
        return Path.IsPathRooted(expanded) ? Path.TrimEndingDirectorySeparator(Path.GetFullPath(expanded)) : expanded;
    }

    /// <summary>
    /// Go's <c>os.ExpandEnv</c>: <c>$NAME</c> and <c>${NAME}</c> (NAME of letters, digits and
    /// <c>_</c>, or one of <c>*#$@!?-</c> and the digits) become the variable's value, empty when
    /// it is unset; a <c>$</c> before anything else stays; a bad <c>${</c> is dropped.
    /// </summary>
    private static string ExpandVariables(string text, Func<string, string?> environment)
    {
        var result = new StringBuilder(text.Length);
        for (int i = 0; i < text.Length; i++)
        {
            if (text[i] != '$' || i + 1 == text.Length)
            {
                result.Append(text[i]);
                continue;
            }
            var (name, width) = VariableName(text.AsSpan(i + 1));
            if (name is not null)
            {
                result.Append(environment(name));
            }
            else if (width == 0)
            {
                result.Append('$');
            }
            i += width;
        }
        return result.ToString();
    }

    /// <summary>The variable name after a <c>$</c> and how many characters it takes; a null name with a width is bad syntax, dropped.</summary>
    private static (string? Name, int Width) VariableName(ReadOnlySpan<char> rest)
    {
        static bool IsSpecial(char c) => "*#$@!?-".Contains(c, StringComparison.Ordinal) || char.IsAsciiDigit(c);
        if (rest[0] == '{')
        {
            if (rest.Length > 2 && IsSpecial(rest[1]) && rest[2] == '}')
            {
                return (rest[1].ToString(), 3);
            }
            int close = rest.IndexOf('}');
            return close switch
            {
                < 0 => (null, 1),
                1 => (null, 2),
                _ => (rest[1..close].ToString(), close + 1),
            };
        }
        if (IsSpecial(rest[0]))
        {
            return (rest[0].ToString(), 1);
        }
        int length = 0;
        while (length < rest.Length && (char.IsAsciiLetterOrDigit(rest[length]) || rest[length] == '_'))
        {
            length++;
        }
        return length == 0 ? (null, 0) : (rest[..length].ToString(), length);
    }

    private static string? FirstExisting(IEnumerable<string?> paths) => paths.FirstOrDefault(path => path is not null && File.Exists(path));

    private static string? NonEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;
}
