using Decant.Sources;

namespace Decant.Tests.Support;

/// <summary>
/// A real layout source whose blob <paramref name="gated"/> opens only once <paramref name="gate"/>
/// completes: the one injected fault, a delay, so the order of events is not left to timing.
/// </summary>
internal sealed class GatedSource(IImageSource inner, string gated, Task gate) : IImageSource
{
    public string Name => inner.Name;

    public ValueTask<Decant.Manifests.Descriptor> ResolveRootAsync(CancellationToken cancellationToken) => inner.ResolveRootAsync(cancellationToken);

    public async ValueTask<Stream> OpenBlobAsync(Decant.Manifests.Descriptor descriptor, CancellationToken cancellationToken)
    {
        if (descriptor.Digest == gated)
        {
            await gate.WaitAsync(cancellationToken);
        }
        return await inner.OpenBlobAsync(descriptor, cancellationToken);
    }

    public ValueTask DisposeAsync() => inner.DisposeAsync();
}
