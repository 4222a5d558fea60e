using Decant.Semantics;

namespace Decant.Writers.Erofs;

/// <summary>The EROFS image output: <see cref="ErofsWriter"/>.</summary>
internal sealed class ErofsFormat : OutputFormat
{
    public override string Name => "erofs";
    public override string Description => "an EROFS";
    public override IReadOnlyList<string> Extensions => [".erofs"];
    public override Type OptionsType => typeof(ErofsWriterOptions);

    /// <summary>File data is placed in the image in the order it arrives.</summary>
    public override bool NeedsContentInOrder => true;

    /// <summary>An EROFS image can hold <c>trusted.*</c> attributes without privileges, so it keeps them.</summary>
    public override XattrPolicy DefaultXattrs => new() { KeepTrusted = true };

    internal override ValueTask<IRootfsWriter> CreateWriterAsync(WriterOptions? options, WriterTarget target, CancellationToken cancellationToken)
    {
        var erofs = OptionsOrDefault<ErofsWriterOptions>(options);
        // Same image and options, same bytes: the UUID comes from the manifest digest.
        erofs = erofs with { Output = target.Output, Force = target.Force, Seed = SeedOrDigest(erofs.Seed, target) };
        return ValueTask.FromResult<IRootfsWriter>(ErofsWriter.Create(erofs));
    }
}
