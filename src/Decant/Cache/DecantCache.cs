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
    private DecantCache(string directory, long maxBytes)
    {
        Directory = directory;
        MaxBytes = maxBytes;
        Layers = new LayerCache(directory);
        _maintenance = new CacheMaintenance(Layers);
    }

    private readonly CacheMaintenance _maintenance;

    /// <summary>The default bound on the cache's disk space: 20 GiB.</summary>
    public const long DefaultMaxBytes = CacheMaintenance.DefaultMaxBytes;

    /// <summary>
    /// The bound on the cache's disk space: after an export that converted a layer, the least
    /// recently used layers (none in use by a running export) are pruned until the cache fits.
    /// </summary>
    public long MaxBytes { get; }

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

    /// <summary>Opens the cache in <paramref name="directory"/> (created if missing; null: <see cref="DefaultDirectory"/>), bounded by <paramref name="maxBytes"/> (null: <see cref="DefaultMaxBytes"/>).</summary>
    /// <exception cref="Model.DecantException">The directory cannot be created or written (<see cref="Model.DecantErrorKind.IOError"/>).</exception>
    public static DecantCache Open(string? directory = null, long? maxBytes = null)
    {
        string path = Path.GetFullPath(directory ?? DefaultDirectory);
        ArgumentOutOfRangeException.ThrowIfNegative(maxBytes ?? 0, nameof(maxBytes));
        try
        {
            return new DecantCache(path, maxBytes ?? DefaultMaxBytes);
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            throw new Model.DecantException(Model.DecantErrorKind.IOError, $"cannot open the layer cache at {path}: {error.Message}", error);
        }
    }

    /// <summary>The layers and images the cache holds, most recently used first, with their sizes.</summary>
    public Task<CacheListing> ListAsync(CancellationToken cancellationToken = default) => _maintenance.ListAsync(cancellationToken);

    /// <summary>The cache's disk usage by kind, and how much <see cref="GcAsync"/> would reclaim.</summary>
    public Task<CacheUsage> DiskUsageAsync(CancellationToken cancellationToken = default) => _maintenance.DiskUsageAsync(cancellationToken);

    /// <summary>
    /// Removes the least recently used layers until the cache fits in <paramref name="maxBytes"/>,
    /// and the layers unused for longer than <paramref name="olderThan"/>, keeping any a running
    /// export uses; then removes what no layer refers to any more (waiting for running conversions).
    /// </summary>
    public Task<PruneReport> PruneAsync(long? maxBytes, TimeSpan? olderThan, CancellationToken cancellationToken = default) =>
        _maintenance.PruneAsync(maxBytes, olderThan, nonBlocking: false, cancellationToken);

    /// <summary>Removes the objects no layer refers to, files left by processes that died, and records of images with no layer left (waiting for running conversions).</summary>
    public Task<SweepReport> GcAsync(CancellationToken cancellationToken = default) => _maintenance.GcAsync(nonBlocking: false, cancellationToken);

    /// <summary>
    /// Checks everything: each layer's record regenerates the exact tar its diff_id names, and each
    /// object's bytes hash to its name. Damaged objects and the records they break are removed (so the
    /// next export converts those layers again); the report says what was found.
    /// </summary>
    public Task<VerifyReport> VerifyAsync(CancellationToken cancellationToken = default) => _maintenance.VerifyAsync(cancellationToken);

    /// <summary>Before an export reads layers: what processes killed mid-write (kill -9, a crash) left in <c>tmp/</c> goes (cheap, and nothing of theirs is in use).</summary>
    internal void BeforeExport()
    {
        try
        {
            Layers.Objects.RemoveLeftovers();
        }
        catch (IOException)
        {
            // Left for gc.
        }
    }

    /// <summary>
    /// After a successful export: remembers the image (for <see cref="ListAsync"/>) and, when the
    /// export added layers, keeps the cache within <see cref="MaxBytes"/> without waiting for anyone.
    /// Measuring the cache means reading every record and every object's size, so it is done only
    /// when an estimate says it may be needed: the size the last prune left (in <c>usage</c>) plus
    /// a bound on everything exports added since (deduplication only makes it smaller). Best
    /// effort: the export has succeeded, so a failure here is not its failure.
    /// </summary>
    internal async Task AfterExportAsync(ImageUse image, long bytesAdded, CancellationToken cancellationToken)
    {
        try
        {
            await Layers.RecordImageAsync(image, cancellationToken).ConfigureAwait(false);
            if (bytesAdded == 0)
            {
                return;
            }
            long estimate = ReadUsageEstimate() + bytesAdded;
            if (estimate > MaxBytes)
            {
                estimate = (await _maintenance.PruneAsync(MaxBytes, null, nonBlocking: true, cancellationToken).ConfigureAwait(false)).RemainingBytes;
            }
            WriteUsageEstimate(estimate);
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException or Model.DecantException)
        {
            // Kept for the next export or `decant cache prune` to finish.
        }
    }

    private string UsagePath => Path.Combine(Directory, "usage");

    /// <summary>The estimate of the cache's size; 0 when there is none yet (a new cache, or one an older decant filled: the first prune measures it).</summary>
    private long ReadUsageEstimate()
    {
        try
        {
            return long.TryParse(File.ReadAllText(UsagePath), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out long bytes) ? bytes : 0;
        }
        catch (FileNotFoundException)
        {
            return 0;
        }
    }

    /// <summary>Replaces the estimate whole (a private name, then a rename), so a reader never sees half of one.</summary>
    private void WriteUsageEstimate(long bytes)
    {
        string temporary = Layers.Objects.NewTemporaryPath();
        File.WriteAllText(temporary, bytes.ToString(System.Globalization.CultureInfo.InvariantCulture));
        File.Move(temporary, UsagePath, overwrite: true);
    }
}
