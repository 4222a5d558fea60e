using System.Globalization;
using Decant.Tests.Support;

namespace Decant.Tests.Differential;

/// <summary>
/// Runs programs as the unprivileged user <c>nobody</c> (65534:65534), or as a user with sub-IDs,
/// through <c>setpriv</c>: no supplementary groups, no inheritable capabilities, and a clean
/// environment whose HOME and TMPDIR are a workspace that user owns. <c>nobody</c> also runs without
/// a bounding set, so nothing it runs can gain a capability; a user with sub-IDs keeps it, because
/// its rootless tools need the setuid <c>newuidmap</c> and <c>newgidmap</c>, and gets an
/// XDG_RUNTIME_DIR in its workspace. The test process itself must be root to switch.
/// </summary>
internal sealed class UnprivilegedUser
{
    public const uint Id = 65534;

    private readonly bool _withSubIds;

    private UnprivilegedUser(string workspace, uint uid, uint gid, bool withSubIds)
    {
        Workspace = workspace;
        Uid = uid;
        Gid = gid;
        _withSubIds = withSubIds;
    }

    /// <summary>A directory owned by the unprivileged user, which it may read and write.</summary>
    public string Workspace { get; }

    public uint Uid { get; }

    public uint Gid { get; }

    /// <summary>Its XDG_RUNTIME_DIR (mode 0700, in the workspace), for a user with sub-IDs.</summary>
    public string RuntimeDirectory => Path.Combine(Workspace, "xdg-runtime");

    /// <summary>Makes a new workspace owned by <c>nobody</c>.</summary>
    public static Task<UnprivilegedUser> CreateAsync(RealImages images, CancellationToken cancellationToken) =>
        CreateAsync(images, Id, Id, withSubIds: false, cancellationToken);

    /// <summary>Makes a new workspace owned by <paramref name="uid"/>:<paramref name="gid"/>, a user with /etc/subuid and /etc/subgid ranges.</summary>
    public static Task<UnprivilegedUser> CreateWithSubIdsAsync(RealImages images, uint uid, uint gid, CancellationToken cancellationToken) =>
        CreateAsync(images, uid, gid, withSubIds: true, cancellationToken);

    private static async Task<UnprivilegedUser> CreateAsync(RealImages images, uint uid, uint gid, bool withSubIds, CancellationToken cancellationToken)
    {
        if (!Environment.IsPrivilegedProcess)
        {
            throw new InvalidOperationException($"the rootless tests switch to uid {uid} with setpriv, which needs root; run the tests as root");
        }
        var user = new UnprivilegedUser(images.NewScratchDirectory("rootless"), uid, gid, withSubIds);
        Directory.CreateDirectory(Path.Combine(user.Workspace, "tmp"));
        if (withSubIds)
        {
            Directory.CreateDirectory(user.RuntimeDirectory);
            await Tools.RunCheckedAsync("chmod", ["0700", user.RuntimeDirectory], cancellationToken);
        }
        await user.ChownAsync(user.Workspace, cancellationToken);
        return user;
    }

    /// <summary>Copies an image (layout directory or archive) into the workspace, readable by the user (umoci writes its blobs 0600).</summary>
    public async Task<string> CopyInAsync(string source, string name, CancellationToken cancellationToken)
    {
        string copy = Path.Combine(Workspace, name);
        await Tools.RunCheckedAsync("cp", ["-a", "--", source, copy], cancellationToken);
        await ChownAsync(copy, cancellationToken);
        return copy;
    }

    /// <summary>Runs <paramref name="program"/> as the unprivileged user and fails with its output unless it succeeds.</summary>
    public Task<ToolResult> RunAsync(string program, IEnumerable<string> arguments, CancellationToken cancellationToken)
    {
        List<string> command =
        [
            $"--reuid={Uid.ToString(CultureInfo.InvariantCulture)}", $"--regid={Gid.ToString(CultureInfo.InvariantCulture)}", "--clear-groups", "--inh-caps=-all",
            .. _withSubIds ? Array.Empty<string>() : ["--bounding-set=-all"],
            "--",
            "env", "-i",
            "PATH=" + Environment.GetEnvironmentVariable("PATH"),
            "HOME=" + Workspace,
            "TMPDIR=" + Path.Combine(Workspace, "tmp"),
            "DOTNET_CLI_HOME=" + Workspace,
            "DOTNET_NOLOGO=1",
            "DOTNET_CLI_TELEMETRY_OPTOUT=1",
            .. _withSubIds ? ["XDG_RUNTIME_DIR=" + RuntimeDirectory] : Array.Empty<string>(),
        ];
        if (Environment.GetEnvironmentVariable("DOTNET_ROOT") is { Length: > 0 } dotnetRoot)
        {
            command.Add("DOTNET_ROOT=" + dotnetRoot);
        }
        command.Add(program);
        command.AddRange(arguments);
        return Tools.RunCheckedAsync("setpriv", command, cancellationToken);
    }

    private Task<ToolResult> ChownAsync(string path, CancellationToken cancellationToken) =>
        Tools.RunCheckedAsync("chown", ["-R", $"{Uid}:{Gid}", "--", path], cancellationToken);
}
