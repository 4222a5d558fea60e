namespace Decant.Writers.Ext4;

/// <summary>A run of consecutive physical blocks.</summary>
internal readonly record struct BlockRun(long Start, long Length)
{
    public long End => Start + Length;
}

/// <summary>One extent of a file: <see cref="Length"/> blocks from logical block <see cref="Logical"/> stored at physical block <see cref="Physical"/>.</summary>
internal readonly record struct FileExtent(uint Logical, long Physical, int Length);
