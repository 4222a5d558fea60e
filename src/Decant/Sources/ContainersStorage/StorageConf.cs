namespace Decant.Sources.ContainersStorage;

/// <summary>Where a store lives.</summary>
internal sealed record StoreLocation(string Driver, string GraphRoot, string RunRoot, string? ConfigFile);

/// <summary>The default store (placeholder until storage.conf is read).</summary>
internal static class StorageConf
{
    /// <summary>The default store of the user.</summary>
    public static Task<StoreLocation> ResolveDefaultAsync(CancellationToken cancellationToken) =>
        Task.FromResult(new StoreLocation("", "/var/lib/containers/storage", "/run/containers/storage", null));
}
