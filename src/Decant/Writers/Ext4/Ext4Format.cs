using Decant.Semantics;

namespace Decant.Writers.Ext4;

/// <summary>The ext4 image output: <see cref="Ext4Writer"/>.</summary>
internal sealed class Ext4Format : OutputFormat
{
    public override string Name => "ext4";
    public override string Description => "an ext4";
    public override IReadOnlyList<string> Extensions => [".ext4", ".img"];
    public override Type OptionsType => typeof(Ext4WriterOptions);

    /// <summary>File data is placed in the image in the order it arrives.</summary>
    public override bool NeedsContentInOrder => true;

    /// <summary>An ext4 image can hold <c>trusted.*</c> attributes without privileges, so it keeps them.</summary>
    public override XattrPolicy DefaultXattrs => new() { KeepTrusted = true };

    internal override ValueTask<IRootfsWriter> CreateWriterAsync(WriterOptions? options, WriterTarget target, CancellationToken cancellationToken)
    {
        var ext4 = OptionsOrDefault<Ext4WriterOptions>(options);
        // Same image and options, same bytes: the UUID and hash seed come from the manifest digest.
        ext4 = ext4 with { Output = target.Output, Force = target.Force, Seed = SeedOrDigest(ext4.Seed, target) };
        return ValueTask.FromResult<IRootfsWriter>(Ext4Writer.Create(ext4));
    }
}
