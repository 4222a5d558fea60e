using Decant.Model;
using Microsoft.Win32.SafeHandles;

namespace Decant.Writers.Erofs;

/// <summary>
/// The files' last partial blocks, kept in a spool beside the image (deleted when closed) until
/// commit places each inline after its inode or in a block of its own. Where a tail sits in the
/// spool never reaches the image, so a layer read ahead of its turn appends its tails here at
/// once. Thread-safe.
/// </summary>
internal sealed class ErofsTailSpool(string directory) : IDisposable
{
    private readonly Lock _lock = new();
    private SafeFileHandle? _file;
    private long _end;

    /// <summary>Appends a last partial block and returns where it is.</summary>
    public async ValueTask<long> AppendAsync(ReadOnlyMemory<byte> tail, CancellationToken cancellationToken)
    {
        long at;
        SafeFileHandle file;
        lock (_lock)
        {
            file = _file ??= Open();
            at = _end;
            _end += tail.Length;
        }
        await RandomAccess.WriteAsync(file, tail, at, cancellationToken).ConfigureAwait(false);
        return at;
    }

    /// <summary>Reads the tail appended at <paramref name="offset"/> into <paramref name="destination"/> (its length).</summary>
    public async ValueTask ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken)
    {
        int read = _file is null ? 0 : await RandomAccess.ReadAsync(_file, destination, offset, cancellationToken).ConfigureAwait(false);
        if (read != destination.Length)
        {
            throw new DecantException(DecantErrorKind.OutputError, $"the tail spool beside the image ended early ({read} of {destination.Length} bytes)");
        }
    }

    /// <summary>Closes (so deletes) the spool.</summary>
    public void Dispose() => _file?.Dispose();

    private SafeFileHandle Open()
    {
        string path = Path.Combine(directory, $".decant-erofs-tails-{Guid.NewGuid():N}");
        try
        {
            return File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, FileOptions.DeleteOnClose | FileOptions.Asynchronous);
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            throw new DecantException(DecantErrorKind.OutputError, $"cannot create the spool for files' last blocks in {directory}: {error.Message}", error);
        }
    }
}
