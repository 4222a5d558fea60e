using Decant.Manifests;
using Decant.Model;
using Decant.Sources;

namespace Decant.Export;

/// <summary>
/// An OCI runtime bundle around the rootfs: <c>DIR/rootfs</c> and <c>DIR/config.json</c>, the way
/// <c>umoci unpack</c> lays it out. Removes what it created unless the export completes. A rootless
/// export (files owned by the invoking user) gets a rootless config.json, which maps that user to
/// the container's root (see <see cref="RuntimeSpec"/>).
/// </summary>
internal sealed class OutputBundle : IDisposable
{
    private readonly string _directory;
    private readonly Writers.OutputParents _created;
    private readonly RootlessIds? _rootless;
    private bool _completed;

    private OutputBundle(string directory, Writers.OutputParents created, RootlessIds? rootless)
    {
        _directory = directory;
        _created = created;
        _rootless = rootless;
    }

    public string RootfsPath => Path.Combine(_directory, "rootfs");

    private string ConfigPath => Path.Combine(_directory, "config.json");

    // Written here first and renamed over config.json on completion, so a failed run with --force keeps the old one.
    private string PendingConfigPath => Path.Combine(_directory, ".config.json.decant-pending");

    public static OutputBundle Create(ExportOptions options)
    {
        string directory = Path.GetFullPath(options.Output);
        if (File.Exists(directory))
        {
            throw new DecantException(DecantErrorKind.OutputError, $"bundle output \"{options.Output}\" exists and is not a directory");
        }
        if (Directory.Exists(directory) && File.Exists(Path.Combine(directory, "config.json")) && !options.Force)
        {
            throw new DecantException(DecantErrorKind.OutputError, $"bundle output \"{options.Output}\" already holds a config.json") { Setting = nameof(ExportOptions.Force) };
        }
        // The bundle directory and its missing ancestors: a failed export removes them again.
        var created = Writers.OutputParents.Create(directory);
        var rootless = options.ResolvedOwnership == Writers.OwnershipMode.Rootless ? RootlessIds.CurrentUser() : (RootlessIds?)null;
        return new OutputBundle(directory, created, rootless);
    }

    public async Task WriteRuntimeConfigAsync(ResolvedImage image, CancellationToken cancellationToken)
    {
        byte[] json = RuntimeSpec.Generate(image, RootfsPath, _rootless);
        await File.WriteAllBytesAsync(PendingConfigPath, json, cancellationToken).ConfigureAwait(false);
    }

    public void Complete()
    {
        File.Move(PendingConfigPath, ConfigPath, overwrite: true);
        _completed = true;
    }

    public void Dispose()
    {
        if (_completed)
        {
            return;
        }
        File.Delete(PendingConfigPath);
        _created.Remove();
    }
}
