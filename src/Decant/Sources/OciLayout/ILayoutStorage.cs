namespace Decant.Sources.OciLayout;

/// <summary>
/// The files of an OCI image layout, wherever they are kept: a directory, or entries of a tar.
/// Paths are relative, '/'-separated, and built only from fixed names and validated digests.
/// </summary>
internal interface ILayoutStorage : IAsyncDisposable
{
    /// <summary>The length of a file, or null when it does not exist.</summary>
    ValueTask<long?> TryGetLengthAsync(string path, CancellationToken cancellationToken);

    /// <summary>Opens a file for reading, or returns null when it does not exist.</summary>
    ValueTask<Stream?> TryOpenAsync(string path, CancellationToken cancellationToken);
}
