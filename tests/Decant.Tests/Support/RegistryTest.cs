namespace Decant.Tests.Support;

/// <summary>
/// A base for test classes in <see cref="UsesRegistries"/>: the shared registries, and from
/// <see cref="RealImagesTest"/> their corpus and a cancellation token that fires after
/// <paramref name="timeLimit"/> minutes.
/// Derived classes still need <c>[Collection(UsesRegistries.Name)]</c>.
/// </summary>
public abstract class RegistryTest(RegistryFixture registries, int timeLimit = 3) : RealImagesTest(registries.Images, timeLimit)
{
    protected RegistryFixture Registries { get; } = registries;

    /// <summary>A new output path (not yet existing) in a fresh scratch directory.</summary>
    protected string NewOutput(string purpose) => Path.Combine(Images.NewScratchDirectory(purpose), "rootfs");
}
