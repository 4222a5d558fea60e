using System.Globalization;
using Decant.Tests.Support;

namespace Decant.Tests.Differential;

/// <summary>
/// Runs programs as the unprivileged user <c>nobody</c> (65534:65534) through <c>setpriv</c>: no
/// supplementary groups, no inheritable or bounding capabilities, and a clean environment whose
/// HOME and TMPDIR are a workspace that user owns. The test process itself must be root to switch.
/// </summary>
internal sealed class UnprivilegedUser
{
    public const uint Id = 65534;

    private UnprivilegedUser(string workspace)
    {
        Workspace = workspace;
    }

    /// <summary>A directory owned by the unprivileged user, which it may read and write.</summary>
    public string Workspace { get; }

    /// <summary>Makes a new workspace owned by the unprivileged user.</summary>
    public static async Task<UnprivilegedUser> CreateAsync(RealImages images, CancellationToken cancellationToken)
    {
        if (!Environment.IsPrivilegedProcess)
        {
            throw new InvalidOperationException("the rootless differential tests switch to uid 65534 with setpriv, which needs root; run the tests as root");
        }
        string workspace = images.NewScratchDirectory("rootless");
        Directory.CreateDirectory(Path.Combine(workspace, "tmp"));
        await ChownAsync(workspace, cancellationToken);
        return new UnprivilegedUser(workspace);
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
        string id = Id.ToString(CultureInfo.InvariantCulture);
        List<string> command =
        [
            $"--reuid={id}", $"--regid={id}", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", "--",
            "env", "-i",
            "PATH=" + Environment.GetEnvironmentVariable("PATH"),
            "HOME=" + Workspace,
            "TMPDIR=" + Path.Combine(Workspace, "tmp"),
            "DOTNET_CLI_HOME=" + Workspace,
            "DOTNET_NOLOGO=1",
            "DOTNET_CLI_TELEMETRY_OPTOUT=1",
        ];
        if (Environment.GetEnvironmentVariable("DOTNET_ROOT") is { Length: > 0 } dotnetRoot)
        {
            command.Add("DOTNET_ROOT=" + dotnetRoot);
        }
        command.Add(program);
        command.AddRange(arguments);
        return Tools.RunCheckedAsync("setpriv", command, cancellationToken);
    }

    private static Task<ToolResult> ChownAsync(string path, CancellationToken cancellationToken) =>
        Tools.RunCheckedAsync("chown", ["-R", $"{Id}:{Id}", "--", path], cancellationToken);
}
