namespace Decant.Writers.Directory;

/// <summary>The directory output: <see cref="DirectoryWriter"/>.</summary>
internal sealed class DirectoryFormat : OutputFormat
{
    public override string Name => "dir";
    public override string Description => "a directory";
    public override Type OptionsType => typeof(DirectoryWriterOptions);
    public override bool IsDirectory => true;

    internal override async ValueTask<IRootfsWriter> CreateWriterAsync(WriterOptions? options, WriterTarget target, CancellationToken cancellationToken)
    {
        var directory = OptionsOrDefault<DirectoryWriterOptions>(options);
        return await DirectoryWriter.CreateAsync(
            directory with { Output = target.Output, Force = target.Force, Ownership = target.Ownership ?? directory.Ownership },
            cancellationToken).ConfigureAwait(false);
    }
}
