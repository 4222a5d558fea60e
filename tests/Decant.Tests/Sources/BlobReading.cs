using Decant.Blobs;
using Decant.Manifests;
using Decant.Sources;

namespace Decant.Tests.Sources;

internal static class BlobReading
{
    /// <summary>Reads a blob whole through a <see cref="VerifyingStream"/>.</summary>
    public static async Task<byte[]> ReadVerifiedAsync(this IImageSource source, Descriptor descriptor)
    {
        await using var stream = new VerifyingStream(await source.OpenBlobAsync(descriptor, CancellationToken.None), descriptor);
        using var copy = new MemoryStream();
        await stream.CopyToAsync(copy);
        Assert.True(stream.IsVerified);
        return copy.ToArray();
    }
}
