using System.Globalization;
using System.Text.Json;
using Decant.Interop;
using Decant.Manifests;
using Decant.Sources;

namespace Decant.Export;

/// <summary>The host user a rootless bundle maps the container's root to: the one who owns its rootfs.</summary>
internal readonly record struct RootlessIds(uint HostUid, uint HostGid)
{
    /// <summary>The invoking user (effective ids), as <c>runc spec --rootless</c> maps.</summary>
    public static RootlessIds CurrentUser() => new(LibC.GetEffectiveUserId(), LibC.GetEffectiveGroupId());
}

/// <summary>
/// Generates an OCI runtime-spec config.json for an image: the Linux defaults <c>runc spec</c> writes
/// (namespaces, mounts, masked paths, no device access) plus the image's entrypoint, cmd, env, working
/// directory and user, with user and group names looked up in the rootfs' /etc/passwd and /etc/group
/// as umoci does. A rootless bundle gets what <c>runc spec --rootless</c> writes instead: a user
/// namespace mapping container root to the invoking user, no network namespace, /sys bind-mounted,
/// no uid=/gid= mount options and no cgroup device rules.
/// </summary>
/// <remarks>
/// A rootless bundle maps one id, so uid and gid 0 are the only ones inside and its process runs as
/// 0:0: the rootfs belongs to the invoking user, who is root in the container. The image's own user
/// (unmapped, so <c>runc run</c> could not switch to it) is kept in the
/// <see cref="ImageUserAnnotation"/> annotation.
/// </remarks>
internal static class RuntimeSpec
{
    /// <summary>In a rootless bundle: the image config's <c>User</c>, which the bundle's process does not run as.</summary>
    public const string ImageUserAnnotation = "io.github.decant-dev.decant.image.user";

    private static readonly string[] DefaultCapabilities = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];

    public static byte[] Generate(ResolvedImage image, string rootfs, RootlessIds? rootless = null)
    {
        var config = image.Config.Config;
        var (uid, gid) = rootless is null ? ResolveUser(config?.User, rootfs) : (0, 0);
        var args = new List<string>();
        args.AddRange(config?.Entrypoint ?? []);
        args.AddRange(config?.Cmd ?? []);
        if (args.Count == 0)
        {
            args.Add("sh");
        }

        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteString("ociVersion", "1.0.2");
            json.WriteStartObject("process");
            json.WriteBoolean("terminal", false);
            json.WriteStartObject("user");
            json.WriteNumber("uid", uid);
            json.WriteNumber("gid", gid);
            json.WriteEndObject();
            WriteArray(json, "args", args);
            WriteArray(json, "env", config?.Env is { Count: > 0 } env ? env : ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]);
            json.WriteString("cwd", string.IsNullOrEmpty(config?.WorkingDir) ? "/" : config.WorkingDir);
            json.WriteStartObject("capabilities");
            foreach (var set in new[] { "bounding", "effective", "permitted" })
            {
                WriteArray(json, set, DefaultCapabilities);
            }
            json.WriteEndObject();
            json.WriteStartArray("rlimits");
            json.WriteStartObject();
            json.WriteString("type", "RLIMIT_NOFILE");
            json.WriteNumber("hard", 1024);
            json.WriteNumber("soft", 1024);
            json.WriteEndObject();
            json.WriteEndArray();
            json.WriteBoolean("noNewPrivileges", true);
            json.WriteEndObject();

            json.WriteStartObject("root");
            json.WriteString("path", "rootfs");
            json.WriteBoolean("readonly", false);
            json.WriteEndObject();
            json.WriteString("hostname", "decant");

            json.WriteStartArray("mounts");
            WriteMount(json, "/proc", "proc", "proc", []);
            WriteMount(json, "/dev", "tmpfs", "tmpfs", ["nosuid", "strictatime", "mode=755", "size=65536k"]);
            // In a user namespace with one id there is no gid 5 (runc spec --rootless drops every uid= and gid=).
            WriteMount(json, "/dev/pts", "devpts", "devpts", rootless is null
                ? ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]
                : ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]);
            WriteMount(json, "/dev/shm", "tmpfs", "shm", ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]);
            WriteMount(json, "/dev/mqueue", "mqueue", "mqueue", ["nosuid", "noexec", "nodev"]);
            if (rootless is null)
            {
                WriteMount(json, "/sys", "sysfs", "sysfs", ["nosuid", "noexec", "nodev", "ro"]);
            }
            else
            {
                // The network namespace stays the host's, and only its owner may mount sysfs: bind the host's, read-only.
                WriteMount(json, "/sys", "none", "/sys", ["rbind", "nosuid", "noexec", "nodev", "ro"]);
            }
            WriteMount(json, "/sys/fs/cgroup", "cgroup", "cgroup", ["nosuid", "noexec", "nodev", "relatime", "ro"]);
            json.WriteEndArray();

            json.WriteStartObject("annotations");
            foreach (var (key, value) in config?.Labels ?? new Dictionary<string, string>())
            {
                json.WriteString(key, value);
            }
            if (image.Config.Created is { } created)
            {
                json.WriteString("org.opencontainers.image.created", created);
            }
            json.WriteString("org.opencontainers.image.architecture", image.Config.Architecture ?? "");
            json.WriteString("org.opencontainers.image.os", image.Config.Os ?? "");
            if (rootless is not null && !string.IsNullOrEmpty(config?.User))
            {
                json.WriteString(ImageUserAnnotation, config.User);
            }
            json.WriteEndObject();

            json.WriteStartObject("linux");
            if (rootless is { } ids)
            {
                WriteIdMapping(json, "uidMappings", ids.HostUid);
                WriteIdMapping(json, "gidMappings", ids.HostGid);
            }
            else
            {
                // Cgroup device rules need privileges; as root, deny all but the devices runc always creates.
                json.WriteStartObject("resources");
                json.WriteStartArray("devices");
                json.WriteStartObject();
                json.WriteBoolean("allow", false);
                json.WriteString("access", "rwm");
                json.WriteEndObject();
                json.WriteEndArray();
                json.WriteEndObject();
            }
            json.WriteStartArray("namespaces");
            foreach (var ns in rootless is null ? new[] { "pid", "network", "ipc", "uts", "mount" } : new[] { "pid", "ipc", "uts", "mount", "user" })
            {
                json.WriteStartObject();
                json.WriteString("type", ns);
                json.WriteEndObject();
            }
            json.WriteEndArray();
            WriteArray(json, "maskedPaths", ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"]);
            WriteArray(json, "readonlyPaths", ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]);
            json.WriteEndObject();
            json.WriteEndObject();
        }
        return buffer.ToArray();
    }

    /// <summary>Resolves the image's <c>User</c> (name or number, optionally <c>:group</c>) against the rootfs.</summary>
    internal static (long Uid, long Gid) ResolveUser(string? user, string rootfs)
    {
        if (string.IsNullOrEmpty(user))
        {
            return (0, 0);
        }
        string[] parts = user.Split(':', 2);
        var passwd = ReadDatabase(rootfs, "etc/passwd");
        long uid;
        long gid = 0;
        if (long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out uid))
        {
            var row = passwd.FirstOrDefault(r => r.Length > 3 && r[2] == parts[0]);
            if (row is not null)
            {
                _ = long.TryParse(row[3], NumberStyles.None, CultureInfo.InvariantCulture, out gid);
            }
        }
        else
        {
            var row = passwd.FirstOrDefault(r => r.Length > 3 && r[0] == parts[0])
                ?? throw new Model.DecantException(Model.DecantErrorKind.InvalidManifest, $"the image's user \"{parts[0]}\" is not in the rootfs' /etc/passwd");
            uid = long.Parse(row[2], CultureInfo.InvariantCulture);
            gid = long.Parse(row[3], CultureInfo.InvariantCulture);
        }
        if (parts.Length == 2 && !long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out gid))
        {
            var row = ReadDatabase(rootfs, "etc/group").FirstOrDefault(r => r.Length > 2 && r[0] == parts[1])
                ?? throw new Model.DecantException(Model.DecantErrorKind.InvalidManifest, $"the image's group \"{parts[1]}\" is not in the rootfs' /etc/group");
            gid = long.Parse(row[2], CultureInfo.InvariantCulture);
        }
        return (uid, gid);
    }

    private static List<string[]> ReadDatabase(string rootfs, string relative)
    {
        // The rootfs is this run's own output; still, never follow a symlink out of it.
        var info = new FileInfo(Path.Combine(rootfs, relative));
        if (!info.Exists || info.LinkTarget is not null || Path.GetDirectoryName(info.FullName) is not { } dir || new DirectoryInfo(dir).LinkTarget is not null)
        {
            return [];
        }
        return [.. File.ReadLines(info.FullName).Where(l => l.Length > 0 && l[0] != '#').Select(l => l.Split(':'))];
    }

    private static void WriteArray(Utf8JsonWriter json, string name, IEnumerable<string> values)
    {
        json.WriteStartArray(name);
        foreach (var value in values)
        {
            json.WriteStringValue(value);
        }
        json.WriteEndArray();
    }

    private static void WriteIdMapping(Utf8JsonWriter json, string name, uint hostId)
    {
        json.WriteStartArray(name);
        json.WriteStartObject();
        json.WriteNumber("containerID", 0);
        json.WriteNumber("hostID", hostId);
        json.WriteNumber("size", 1);
        json.WriteEndObject();
        json.WriteEndArray();
    }

    private static void WriteMount(Utf8JsonWriter json, string destination, string type, string source, string[] options)
    {
        json.WriteStartObject();
        json.WriteString("destination", destination);
        json.WriteString("type", type);
        json.WriteString("source", source);
        WriteArray(json, "options", options);
        json.WriteEndObject();
    }
}
