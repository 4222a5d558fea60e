using Decant.Model;

namespace Decant.Layers;

/// <summary>
/// The limit on uncompressed bytes across all layers of one export: what stops a decompression bomb.
/// Shared by the layers read concurrently.
/// </summary>
internal sealed class UnpackBudget
{
    private long _used;

    /// <summary>A budget of <paramref name="maxBytes"/> uncompressed bytes (positive) for the whole export.</summary>
    public UnpackBudget(long maxBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxBytes);
        MaxBytes = maxBytes;
    }

    /// <summary>The most uncompressed bytes all layers together may produce (<c>ExportOptions.MaxUnpackedBytes</c>).</summary>
    public long MaxBytes { get; }

    /// <summary>Records <paramref name="bytes"/> more uncompressed bytes; throws once the limit is passed.</summary>
    public void Consume(long bytes)
    {
        // A single claim past the limit is refused before adding, so a hostile size cannot wrap the sum.
        if (bytes > MaxBytes || Interlocked.Add(ref _used, bytes) > MaxBytes)
        {
            throw new DecantException(DecantErrorKind.LimitExceeded, $"the image unpacks to more than {MaxBytes} bytes, the limit; refusing to continue (possible decompression bomb)")
            {
                Setting = "MaxUnpackedBytes", // ExportOptions.MaxUnpackedBytes, which this folder cannot name
            };
        }
    }
}
