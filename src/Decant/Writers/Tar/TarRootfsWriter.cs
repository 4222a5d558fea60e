using System.Globalization;
using Decant.Blobs;
using Decant.Model;
using Decant.Tree;

namespace Decant.Writers.Tar;

/// <summary>How <see cref="TarRootfsWriter"/> writes the flattened tar to <see cref="WriterOptions.Output"/>, a file or "-" for standard output.</summary>
public sealed record TarWriterOptions : WriterOptions
{
    /// <summary>Where content is spooled while layers are read; defaults to the output's directory (or the temp directory for stdout).</summary>
    public string? SpoolDirectory { get; init; }
}

/// <summary>
/// Writes the merged tree as one flattened POSIX tar: parents before children, siblings in
/// ordinal order, the first path of each hardlinked inode carrying the content and the others
/// linking to it. A file output is written under a temporary name and renamed at the end, so a
/// failed export never leaves a half-written tar behind.
/// </summary>
internal sealed class TarRootfsWriter : IRootfsWriter
{
    private const int CopyBufferSize = 1 << 20;
    private readonly SpoolContentStore _spool;
    private readonly AtomicOutputFile? _output; // null for standard output

    /// <summary>Holes at least this large make a file a sparse entry (GNU tar's own --sparse makes every holey file one).</summary>
    private const long SparseThreshold = 1 << 20;

    private TarRootfsWriter(SpoolContentStore spool, AtomicOutputFile? output)
    {
        _spool = spool;
        _output = output;
    }

    /// <summary>Spools contents to one temporary file in the spool directory (see <see cref="TarWriterOptions.SpoolDirectory"/>) until commit copies them into the tar.</summary>
    public IContentStore Content => _spool;

    /// <summary>Checks the output path and creates the spool; a file output is written under a temporary name next to it.</summary>
    /// <exception cref="DecantException">The output is a directory, exists without <see cref="WriterOptions.Force"/>, or its missing parent directories cannot be created.</exception>
    public static TarRootfsWriter Create(TarWriterOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.CheckOutput();
        var output = options.Output == "-" ? null : AtomicOutputFile.Create(options.Output, options.Force, "a tar output");
        try
        {
            string spoolDirectory = options.SpoolDirectory ?? output?.ParentDirectory ?? Path.GetTempPath();
            return new TarRootfsWriter(new SpoolContentStore(spoolDirectory), output);
        }
        catch
        {
            output?.Dispose();
            throw;
        }
    }

    /// <summary>Writes the whole tar (to standard output for "-"), then renames a file output into place.</summary>
    public async Task<WriteSummary> CommitAsync(MergedTree tree, CancellationToken cancellationToken)
    {
        _spool.Seal();
        WriteSummary summary;
        if (_output is null)
        {
            var stdout = Console.OpenStandardOutput();
            await using (stdout.ConfigureAwait(false))
            {
                var buffered = new BufferedStream(stdout, CopyBufferSize);
                await using (buffered.ConfigureAwait(false))
                {
                    summary = await WriteTreeAsync(tree, buffered, cancellationToken).ConfigureAwait(false);
                    await buffered.FlushAsync(cancellationToken).ConfigureAwait(false);
                }
            }
            return summary;
        }
        // A file is written by position: large contents are copied into it by workers while the walk goes on.
        var file = new TarFileOutput(_output.CreateFile(FileAccess.Write), cancellationToken);
        await using (file.ConfigureAwait(false))
        {
            summary = await WriteTreeAsync(tree, file, cancellationToken).ConfigureAwait(false);
            await file.CompleteAsync(cancellationToken).ConfigureAwait(false);
        }
        _output.Commit();
        return summary;
    }

    private async Task<WriteSummary> WriteTreeAsync(MergedTree tree, Stream output, CancellationToken cancellationToken)
    {
        // A stream output copies contents through this buffer; a file output copies them itself.
        byte[] buffer = output is TarFileOutput ? [] : new byte[CopyBufferSize];
        var counter = new SummaryCounter();
        foreach (var step in tree.WalkSteps(withPaths: true))
        {
            cancellationToken.ThrowIfCancellationRequested();
            var node = step.Node;
            var inode = node.Inode;
            string path = step.Path!;
            string name = node.Parent is null ? "./" : inode.IsDirectory ? path + "/" : path;
            if (!inode.IsDirectory && !step.IsFirstPathOfInode)
            {
                await TarHeaderWriter.WriteAsync(output, Record(name, '1', inode, 0, step.FirstPath!), cancellationToken).ConfigureAwait(false);
                counter.Count(node, firstPathOfInode: false);
                continue;
            }
            switch (inode.Kind)
            {
                case NodeKind.Directory:
                    await TarHeaderWriter.WriteAsync(output, Record(name, '5', inode, 0, ""), cancellationToken).ConfigureAwait(false);
                    break;
                case NodeKind.RegularFile:
                    await WriteRegularFileAsync(output, name, inode, buffer, cancellationToken).ConfigureAwait(false);
                    break;
                case NodeKind.Symlink:
                    await TarHeaderWriter.WriteAsync(output, Record(name, '2', inode, 0, inode.SymlinkTarget ?? ""), cancellationToken).ConfigureAwait(false);
                    break;
                case NodeKind.CharDevice or NodeKind.BlockDevice:
                    await TarHeaderWriter.WriteAsync(output, Record(name, inode.Kind == NodeKind.CharDevice ? '3' : '4', inode, 0, ""), cancellationToken).ConfigureAwait(false);
                    break;
                case NodeKind.Fifo:
                    await TarHeaderWriter.WriteAsync(output, Record(name, '6', inode, 0, ""), cancellationToken).ConfigureAwait(false);
                    break;
                default:
                    throw new InvalidOperationException($"unexpected node kind {inode.Kind}");
            }
            counter.Count(node, firstPathOfInode: true);
        }
        await TarHeaderWriter.WriteEndAsync(output, cancellationToken).ConfigureAwait(false);
        return counter.ToSummary();
    }

    /// <summary>
    /// A regular file, as a plain entry, or as a GNU sparse (PAX 1.0) entry when its holes come to
    /// <see cref="SparseThreshold"/> or more: then only its data is written, so holes cost their
    /// count, not their size, and GNU tar, libarchive and Go extract it with its holes.
    /// </summary>
    private async ValueTask WriteRegularFileAsync(Stream output, string name, Inode inode, byte[] buffer, CancellationToken cancellationToken)
    {
        var content = inode.Content!;
        var data = content.Size >= SparseThreshold ? _spool.DataRanges(content) : null;
        long dataBytes = data?.Sum(r => r.Length) ?? content.Size;
        if (data is null || content.Size - dataBytes < SparseThreshold)
        {
            await TarHeaderWriter.WriteAsync(output, Record(name, '0', inode, inode.Size, ""), cancellationToken).ConfigureAwait(false);
            await MoveContentAsync(content, 0, content.Size, output, buffer, cancellationToken).ConfigureAwait(false);
            await TarHeaderWriter.WritePaddingAsync(output, inode.Size, cancellationToken).ConfigureAwait(false);
            return;
        }
        // GNU tar ends a map whose file ends in a hole with an empty segment at the real size.
        if (data.Count == 0 || data[^1].Offset + data[^1].Length < content.Size)
        {
            data.Add((content.Size, 0));
        }
        byte[] map = SparseMap(data);
        int slash = name.LastIndexOf('/');
        string storedName = slash < 0 ? "GNUSparseFile.0/" + name : name[..(slash + 1)] + "GNUSparseFile.0/" + name[(slash + 1)..];
        KeyValuePair<string, byte[]>[] sparse =
        [
            new("GNU.sparse.major", "1"u8.ToArray()),
            new("GNU.sparse.minor", "0"u8.ToArray()),
            new("GNU.sparse.name", NameBytes.GetBytes(name)),
            new("GNU.sparse.realsize", System.Text.Encoding.ASCII.GetBytes(content.Size.ToString(CultureInfo.InvariantCulture))),
        ];
        long stored = map.Length + dataBytes;
        await TarHeaderWriter.WriteAsync(output, Record(storedName, '0', inode, stored, ""), cancellationToken, sparse).ConfigureAwait(false);
        await output.WriteAsync(map, cancellationToken).ConfigureAwait(false);
        foreach (var (offset, length) in data)
        {
            await MoveContentAsync(content, offset, length, output, buffer, cancellationToken).ConfigureAwait(false);
        }
        await TarHeaderWriter.WritePaddingAsync(output, stored, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Moves <paramref name="length"/> bytes at <paramref name="start"/> of one content from the spool
    /// into the tar (by position into a file, through the buffer into a stream), giving their spool
    /// space back: each content is in the tar once.
    /// </summary>
    private ValueTask MoveContentAsync(ContentRef content, long start, long length, Stream output, byte[] buffer, CancellationToken cancellationToken)
    {
        if (output is TarFileOutput file)
        {
            var (spool, offset) = _spool.Region(content);
            return file.MoveFromAsync(spool, offset + start, length, cancellationToken);
        }
        return _spool.MoveRangeToAsync(content, start, length, output, buffer, cancellationToken);
    }

    /// <summary>A PAX 1.0 sparse map: the segment count, then each offset and length, one decimal per line, padded to a block.</summary>
    private static byte[] SparseMap(List<(long Offset, long Length)> segments)
    {
        var text = new System.Text.StringBuilder();
        text.Append(segments.Count.ToString(CultureInfo.InvariantCulture)).Append('\n');
        foreach (var (offset, length) in segments)
        {
            text.Append(offset.ToString(CultureInfo.InvariantCulture)).Append('\n').Append(length.ToString(CultureInfo.InvariantCulture)).Append('\n');
        }
        byte[] ascii = System.Text.Encoding.ASCII.GetBytes(text.ToString());
        byte[] map = new byte[(ascii.Length + TarHeaderWriter.BlockSize - 1) / TarHeaderWriter.BlockSize * TarHeaderWriter.BlockSize];
        ascii.CopyTo(map, 0);
        return map;
    }

    private static TarRecord Record(string name, char type, Inode inode, long size, string link) =>
        new(name, type, inode.Mode, inode.Uid, inode.Gid, size, inode.ModificationTime, link, inode.DeviceMajor, inode.DeviceMinor, type == '1' ? [] : inode.Xattrs);

    /// <summary>Deletes the spool and, unless the writer committed, the temporary output file.</summary>
    public ValueTask DisposeAsync()
    {
        _spool.Dispose();
        _output?.Dispose();
        return ValueTask.CompletedTask;
    }
}
