namespace Decant.Writers;

/// <summary>
/// Where a writer puts its output, and the options every format shares. Each format has its own
/// derived record (<see cref="Directory.DirectoryWriterOptions"/>, <see cref="Tar.TarWriterOptions"/>,
/// <see cref="Ext4.Ext4WriterOptions"/>, <see cref="Erofs.ErofsWriterOptions"/>) with the options only it has.
/// </summary>
public abstract record WriterOptions
{
    /// <summary>
    /// The output path: the directory to fill or the file to write ("-" is standard output, for a
    /// format that can stream). In an export, the exporter sets it from <c>ExportOptions.Output</c>.
    /// </summary>
    public string Output { get; init; } = "";

    /// <summary>Replace an existing output (in an export, set from <c>ExportOptions.Force</c>).</summary>
    public bool Force { get; init; }

    /// <summary>Refuses options without an output path.</summary>
    internal void CheckOutput()
    {
        if (string.IsNullOrEmpty(Output))
        {
            throw new ArgumentException("the writer options name no output", nameof(Output));
        }
    }
}
