namespace Decant.Tests.Support;

/// <summary>
/// A base for test classes in <see cref="UsesRegistries"/>: the shared registries and a cancellation
/// token that fires after three minutes. Derived classes still need <c>[Collection(UsesRegistries.Name)]</c>.
/// </summary>
public abstract class RegistryTest(RegistryFixture registries) : IDisposable
{
    private readonly CancellationTokenSource _timeout = new(TimeSpan.FromMinutes(3));

    protected RegistryFixture Registries { get; } = registries;

    protected CancellationToken Token => _timeout.Token;

    /// <summary>A new output path (not yet existing) in a fresh scratch directory.</summary>
    protected string NewOutput(string purpose) => Path.Combine(Registries.Images.NewScratchDirectory(purpose), "rootfs");

    public void Dispose()
    {
        Dispose(disposing: true);
        GC.SuppressFinalize(this);
    }

    protected virtual void Dispose(bool disposing)
    {
        if (disposing)
        {
            _timeout.Dispose();
        }
    }
}
