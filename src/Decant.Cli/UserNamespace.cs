using System.Diagnostics;
using System.Runtime.InteropServices;
using Decant.Sources.ContainersStorage;

namespace Decant.Cli;

/// <summary>
/// Runs the command again inside the user's user namespace when it reads a rootless
/// containers-storage store (see <see cref="ContainersStorageAccess"/>), as podman, buildah and
/// skopeo do: through <c>podman unshare</c> (or <c>buildah unshare</c>), which maps the user to root
/// and the sub-IDs of <c>/etc/subuid</c> and <c>/etc/subgid</c> beside it. The command inside reads
/// every file of the store as it is; its output belongs to the user, as a rootless export's does.
/// </summary>
internal static partial class UserNamespace
{
    /// <summary>Set in the environment of the command run inside the namespace.</summary>
    private const string MarkerVariable = "DECANT_IN_USER_NAMESPACE";

    private const int SIGTERM = 15;

    /// <summary>Whether this process is the command run again inside the user's namespace (so a directory output is written as the user's, not as root's).</summary>
    public static bool IsReexecuted => Environment.GetEnvironmentVariable(MarkerVariable) == "1";

    /// <summary>
    /// When <paramref name="reference"/> needs the user's namespace and this process is not in it,
    /// runs this command line there and returns its exit code; otherwise null (go on here).
    /// </summary>
    public static async Task<int?> RunInsideIfNeededAsync(string reference, CancellationToken cancellationToken)
    {
        if (IsReexecuted || !await ContainersStorageAccess.NeedsUserNamespaceAsync(reference, cancellationToken).ConfigureAwait(false))
        {
            return null;
        }
        string? unshare = FindOnPath("podman") ?? FindOnPath("buildah")
            ?? throw new Model.DecantException(Model.DecantErrorKind.Usage,
                $"{reference} is a rootless store, whose files belong to your sub-IDs: reading it needs your user namespace, which podman unshare or buildah unshare enters, and neither podman nor buildah is on PATH");
        string self = Environment.ProcessPath ?? throw new InvalidOperationException("the decant executable's path is unknown");
        var start = new ProcessStartInfo(unshare) { UseShellExecute = false };
        start.ArgumentList.Add("unshare");
        start.ArgumentList.Add(self);
        if (Path.GetFileName(self) == "dotnet")
        {
            // A framework-dependent build run as `dotnet decant.dll`: the host is the process.
            start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "decant.dll"));
        }
        foreach (string argument in Environment.GetCommandLineArgs().Skip(1))
        {
            start.ArgumentList.Add(argument);
        }
        start.Environment[MarkerVariable] = "1";
        using var child = Process.Start(start) ?? throw new InvalidOperationException($"cannot start {unshare}");
        // Ctrl-C reaches the whole process group; a SIGTERM sent to this process alone is passed on,
        // so the command inside removes its partial output as it would here.
        using var forward = cancellationToken.Register(() => _ = Kill(child.Id, SIGTERM));
        await child.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
        return child.ExitCode;
    }

    private static string? FindOnPath(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "/usr/local/bin:/usr/bin:/bin").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(directory => Path.Combine(directory, program))
            .FirstOrDefault(File.Exists);

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int processId, int signal);
}
