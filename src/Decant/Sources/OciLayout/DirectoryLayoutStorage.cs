namespace Decant.Sources.OciLayout;

/// <summary>An OCI image layout kept as a directory on disk.</summary>
internal sealed class DirectoryLayoutStorage(string root) : ILayoutStorage
{
    private const int ReadBufferSize = 64 * 1024;

    public ValueTask<long?> TryGetLengthAsync(string path, CancellationToken cancellationToken)
    {
        var file = new FileInfo(Path.Combine(root, path));
        return ValueTask.FromResult<long?>(file.Exists ? file.Length : null);
    }

    public ValueTask<Stream?> TryOpenAsync(string path, CancellationToken cancellationToken)
    {
        try
        {
            Stream stream = new FileStream(Path.Combine(root, path), FileMode.Open, FileAccess.Read, FileShare.Read, ReadBufferSize, FileOptions.Asynchronous | FileOptions.SequentialScan);
            return ValueTask.FromResult<Stream?>(stream);
        }
        catch (Exception error) when (error is FileNotFoundException or DirectoryNotFoundException)
        {
            return ValueTask.FromResult<Stream?>(null);
        }
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
