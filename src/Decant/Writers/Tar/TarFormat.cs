namespace Decant.Writers.Tar;

/// <summary>The flattened tar output: <see cref="TarRootfsWriter"/>.</summary>
internal sealed class TarFormat : OutputFormat
{
    public override string Name => "tar";
    public override string Description => "a tar";
    public override IReadOnlyList<string> Extensions => [".tar"];
    public override Type OptionsType => typeof(TarWriterOptions);
    public override bool CanStream => true;

    internal override ValueTask<IRootfsWriter> CreateWriterAsync(WriterOptions? options, WriterTarget target, CancellationToken cancellationToken) =>
        ValueTask.FromResult<IRootfsWriter>(TarRootfsWriter.Create(OptionsOrDefault<TarWriterOptions>(options) with { Output = target.Output, Force = target.Force }));
}
