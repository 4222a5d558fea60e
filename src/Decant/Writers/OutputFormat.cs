using Decant.Model;
using Decant.Semantics;
using Decant.Writers.Directory;
using Decant.Writers.Erofs;
using Decant.Writers.Ext4;
using Decant.Writers.Tar;

namespace Decant.Writers;

/// <summary>
/// One output format: its name, the file extensions that imply it, its options type, its traits,
/// and how to create its writer. Every format Decant writes is registered in <see cref="All"/>,
/// and the exporter, the command line and the tests know formats only through this class.
/// </summary>
public abstract class OutputFormat
{
    private protected OutputFormat()
    {
    }

    /// <summary>A root filesystem directory.</summary>
    public static OutputFormat Directory { get; } = new DirectoryFormat();

    /// <summary>One flattened tar of the root filesystem.</summary>
    public static OutputFormat Tar { get; } = new TarFormat();

    /// <summary>A ready-to-mount ext4 filesystem image.</summary>
    public static OutputFormat Ext4 { get; } = new Ext4Format();

    /// <summary>A ready-to-mount, read-only EROFS filesystem image.</summary>
    public static OutputFormat Erofs { get; } = new ErofsFormat();

    /// <summary>Every format Decant writes: the one place a format is registered.</summary>
    public static IReadOnlyList<OutputFormat> All { get; } = [Directory, Tar, Ext4, Erofs];

    /// <summary>The format's name, as <c>--format</c> spells it (<c>dir</c>, <c>tar</c>, <c>ext4</c>, <c>erofs</c>).</summary>
    public abstract string Name { get; }

    /// <summary>How a sentence names the output, before the word "output": "a directory", "a tar", "an ext4".</summary>
    public abstract string Description { get; }

    /// <summary>The file name endings (lowercase, with the dot) that imply this format when none is given.</summary>
    public virtual IReadOnlyList<string> Extensions => [];

    /// <summary>The <see cref="WriterOptions"/> record this format takes.</summary>
    public abstract Type OptionsType { get; }

    /// <summary>Whether the output can be streamed to standard output (<c>-</c>).</summary>
    public virtual bool CanStream => false;

    /// <summary>Whether the output is a directory tree (so it can be a runtime bundle's rootfs).</summary>
    public virtual bool IsDirectory => false;

    /// <summary>
    /// Whether the writer places file contents in the order they arrive, so layers are read one at a
    /// time to keep the output byte-identical from run to run.
    /// </summary>
    public virtual bool NeedsContentInOrder => false;

    /// <summary>The extended attributes kept when the export names no policy.</summary>
    public virtual XattrPolicy DefaultXattrs => XattrPolicy.ForCurrentUser();

    /// <summary>The registered format called <paramref name="name"/>, or null.</summary>
    public static OutputFormat? FromName(string name) => All.FirstOrDefault(f => string.Equals(f.Name, name, StringComparison.Ordinal));

    /// <summary>
    /// The format an output path implies: a streaming format for <c>-</c>, a format whose extension
    /// the name ends with, and otherwise a directory.
    /// </summary>
    public static OutputFormat ForOutput(string output)
    {
        ArgumentNullException.ThrowIfNull(output);
        if (output == "-")
        {
            return All.First(f => f.CanStream);
        }
        return All.FirstOrDefault(f => f.Extensions.Any(e => output.EndsWith(e, StringComparison.OrdinalIgnoreCase)))
            ?? All.First(f => f.IsDirectory);
    }

    /// <summary>The format whose options type <paramref name="options"/> is.</summary>
    internal static OutputFormat ForOptions(WriterOptions options) => All.First(f => f.OptionsType == options.GetType());

    /// <summary>
    /// Creates this format's writer for a tree a host builds itself (<see cref="Tree.TreeBuilder"/>):
    /// <paramref name="options"/> must be of <see cref="OptionsType"/> and name the output. Write
    /// file contents into its <see cref="IRootfsWriter.Content"/>, then commit the tree.
    /// </summary>
    public ValueTask<IRootfsWriter> CreateWriterAsync(WriterOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.CheckOutput();
        return CreateWriterAsync(options, new WriterTarget(options.Output, options.Force, Ownership: null, ""), cancellationToken);
    }

    /// <summary>
    /// Creates the writer for an export: <paramref name="options"/> (of <see cref="OptionsType"/>, or
    /// null for the defaults) with the output, force and ownership the export gives.
    /// </summary>
    internal abstract ValueTask<IRootfsWriter> CreateWriterAsync(WriterOptions? options, WriterTarget target, CancellationToken cancellationToken);

    /// <summary>The options to use: <paramref name="options"/> when they are this format's, the defaults when null.</summary>
    private protected T OptionsOrDefault<T>(WriterOptions? options) where T : WriterOptions, new()
    {
        CheckOptions(options);
        return options as T ?? new T();
    }

    /// <summary>
    /// The bytes a deterministic format derives its UUID and seeds from: <paramref name="seed"/> when
    /// the options give one, else the image's manifest digest, so the same image gives the same bytes.
    /// </summary>
    private protected static IReadOnlyList<byte> SeedOrDigest(IReadOnlyList<byte> seed, WriterTarget target) =>
        seed.Count > 0 ? seed : System.Text.Encoding.UTF8.GetBytes(target.ImageDigest);

    /// <summary>Refuses <paramref name="options"/> of another format (a usage error); null, meaning the defaults, is fine.</summary>
    internal void CheckOptions(WriterOptions? options)
    {
        if (options is not null && ForOptions(options) != this)
        {
            throw new DecantException(DecantErrorKind.Usage, $"the options given are for {ForOptions(options).Description} output, not for {Description} output");
        }
    }

    /// <summary>The format's name.</summary>
    public override string ToString() => Name;
}

/// <summary>What an export decides for its writer, whatever the format: where, whether to replace, whose files, and the image's identity.</summary>
/// <param name="Output">The output path.</param>
/// <param name="Force">Replace an existing output.</param>
/// <param name="Ownership">How owners are written; null keeps what the format's own options say.</param>
/// <param name="ImageDigest">The manifest digest, from which deterministic formats derive UUIDs and seeds.</param>
internal sealed record WriterTarget(string Output, bool Force, OwnershipMode? Ownership, string ImageDigest);
