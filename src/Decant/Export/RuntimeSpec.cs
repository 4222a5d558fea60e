using System.Globalization;
using System.Text.Json;
using Decant.Manifests;

namespace Decant.Export;

/// <summary>
/// Generates an OCI runtime-spec config.json for an image: the usual Linux defaults (namespaces,
/// mounts, masked paths) plus the image's entrypoint, cmd, env, working directory and user, with
/// user and group names looked up in the rootfs' /etc/passwd and /etc/group as umoci does.
/// </summary>
internal static class RuntimeSpec
{
    private static readonly string[] DefaultCapabilities = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];

    public static byte[] Generate(ResolvedImage image, string rootfs)
    {
        var config = image.Config.Config;
        var (uid, gid) = ResolveUser(config?.User, rootfs);
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
            WriteMount(json, "/dev/pts", "devpts", "devpts", ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]);
            WriteMount(json, "/dev/shm", "tmpfs", "shm", ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]);
            WriteMount(json, "/dev/mqueue", "mqueue", "mqueue", ["nosuid", "noexec", "nodev"]);
            WriteMount(json, "/sys", "sysfs", "sysfs", ["nosuid", "noexec", "nodev", "ro"]);
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
            json.WriteEndObject();

            json.WriteStartObject("linux");
            json.WriteStartArray("namespaces");
            foreach (var ns in new[] { "pid", "network", "ipc", "uts", "mount" })
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
                ?? throw new Errors.DecantException(Errors.DecantErrorKind.InvalidManifest, $"the image's user \"{parts[0]}\" is not in the rootfs' /etc/passwd");
            uid = long.Parse(row[2], CultureInfo.InvariantCulture);
            gid = long.Parse(row[3], CultureInfo.InvariantCulture);
        }
        if (parts.Length == 2 && !long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out gid))
        {
            var row = ReadDatabase(rootfs, "etc/group").FirstOrDefault(r => r.Length > 2 && r[0] == parts[1])
                ?? throw new Errors.DecantException(Errors.DecantErrorKind.InvalidManifest, $"the image's group \"{parts[1]}\" is not in the rootfs' /etc/group");
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
