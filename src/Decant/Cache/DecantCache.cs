namespace Decant.Cache;

/// <summary>
/// The layer cache: each layer converted once, keyed by its diff_id, its file contents kept once as
/// objects named by their fs-verity digest, shared by every image and every process that opens the
/// same directory. Pass it to an export (<see cref="Export.ExportOptions.Cache"/>): layers it holds
/// are not downloaded or decompressed, and layers it lacks are kept as they are converted. Everything
/// in it can be deleted at any time without harm.
/// </summary>
public sealed class DecantCache
{
    private DecantCache(string directory)
    {
        Directory = directory;
        Layers = new LayerCache(directory);
    }

    /// <summary>The cache's directory.</summary>
    public string Directory { get; }

    /// <summary>The records and objects underneath.</summary>
    internal LayerCache Layers { get; }

    /// <summary>
    /// Where the cache lives unless told otherwise: <c>$DECANT_CACHE</c> when set; as root
    /// <c>/var/cache/decant</c>; otherwise <c>$XDG_CACHE_HOME/decant</c>, or <c>~/.cache/decant</c>.
    /// </summary>
    public static string DefaultDirectory
    {
        get
        {
            if (Environment.GetEnvironmentVariable("DECANT_CACHE") is { Length: > 0 } chosen)
            {
                return Path.GetFullPath(chosen);
            }
            if (Environment.IsPrivilegedProcess)
            {
                return "/var/cache/decant";
            }
            string? xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
            string home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
            return Path.Combine(xdg is { Length: > 0 } && Path.IsPathRooted(xdg) ? xdg : Path.Combine(home, ".cache"), "decant");
        }
    }

    /// <summary>Opens the cache in <paramref name="directory"/> (created if missing; null: <see cref="DefaultDirectory"/>).</summary>
    /// <exception cref="Model.DecantException">The directory cannot be created or written (<see cref="Model.DecantErrorKind.IOError"/>).</exception>
    public static DecantCache Open(string? directory = null)
    {
        string path = Path.GetFullPath(directory ?? DefaultDirectory);
        try
        {
            return new DecantCache(path);
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            throw new Model.DecantException(Model.DecantErrorKind.IOError, $"cannot open the layer cache at {path}: {error.Message}", error);
        }
    }
}
