namespace Decant.Tests.Support;

/// <summary>
/// A base for test classes in <see cref="UsesRealImages"/> (and, through <see cref="RegistryTest"/>,
/// <see cref="UsesRegistries"/>): gives them the shared corpus and a cancellation token that fires
/// when a test runs longer than <paramref name="timeLimit"/> minutes. Derived classes still need
/// <c>[Collection(UsesRealImages.Name)]</c>.
/// </summary>
public abstract class RealImagesTest(RealImages images, int timeLimit = 3) : IDisposable
{
    private readonly CancellationTokenSource timeout = new(TimeSpan.FromMinutes(timeLimit));

    protected RealImages Images { get; } = images;

    protected CancellationToken Token => timeout.Token;

    public void Dispose()
    {
        Dispose(disposing: true);
        GC.SuppressFinalize(this);
    }

    protected virtual void Dispose(bool disposing)
    {
        if (disposing)
        {
            timeout.Dispose();
        }
    }
}
