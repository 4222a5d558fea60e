using System.Security.Cryptography;
using Decant.Export;
using Decant.Tests.Cache;
using Decant.Tests.Support;
using Decant.Writers;
using Decant.Writers.Tar;

namespace Decant.Tests.Writers.Tar;

/// <summary>
/// A tar file is written by position: the walk lays it out, and workers write it, headers and
/// small contents in batches, larger contents (over <see cref="TarFileOutput.InlineContentLimit"/>)
/// copied in the kernel into the gaps the walk leaves. The bytes must not depend on which copy finishes first, every content must
/// land whole in its place, and a disk that fills while the workers copy must fail the export cleanly.
/// </summary>
public sealed class TarFileOutputTests : CacheScratchTest
{
    [Fact]
    public async Task LargeAndSmallContentsLandInTheirPlacesAndTheBytesDoNotDependOnTheJobs()
    {
        // Three layers of files from 1 KiB to 1.5 MiB: many on each side of the inline limit.
        var layers = Enumerable.Range(0, 3).Select(i => RandomLayers.Make(seed: 90 + i, $"layer{i}", files: 24, 1 << 10, 3 << 19)).ToList();
        string image = SyntheticImage.WriteLayout(Scratch.Combine("image"), layers.Select(l => l.Tar));
        string oneJob = Scratch.Combine("one-job.tar"), manyJobs = Scratch.Combine("many-jobs.tar"), directory = Scratch.Combine("rootfs");

        await ImageExporter.ExportAsync(image, new ExportOptions { Output = oneJob, Format = OutputFormat.Tar, Jobs = 1 }, cancellationToken: Token);
        await ImageExporter.ExportAsync(image, new ExportOptions { Output = manyJobs, Format = OutputFormat.Tar, Jobs = 4 }, cancellationToken: Token);
        await ImageExporter.ExportAsync(image, new ExportOptions { Output = directory, Format = OutputFormat.Directory }, cancellationToken: Token);

        Assert.Equal(SHA256.HashData(await File.ReadAllBytesAsync(oneJob, Token)), SHA256.HashData(await File.ReadAllBytesAsync(manyJobs, Token)));
        // GNU tar reads the archive through to its end and extracts every file as the directory export has it.
        string extracted = Scratch.Combine("extracted");
        System.IO.Directory.CreateDirectory(extracted);
        await Tools.RunCheckedAsync("tar", ["--extract", "--file", manyJobs, "--directory", extracted], Token);
        var files = System.IO.Directory.EnumerateFiles(directory, "*", SearchOption.AllDirectories).ToList();
        Assert.Equal(3 * 24, files.Count);
        Assert.Contains(files, f => new FileInfo(f).Length > TarFileOutput.InlineContentLimit);
        Assert.Contains(files, f => new FileInfo(f).Length < TarFileOutput.InlineContentLimit);
        foreach (string file in files)
        {
            string relative = Path.GetRelativePath(directory, file);
            byte[] expected = await File.ReadAllBytesAsync(file, Token);
            byte[] actual = await File.ReadAllBytesAsync(Path.Combine(extracted, relative), Token);
            Assert.True(expected.AsSpan().SequenceEqual(actual), $"{relative} differs between the tar and the directory export");
        }
    }

    [Fact]
    public async Task ADiskThatFillsWhileContentsAreCopiedFailsTheExportAndLeavesNothing()
    {
        // About 32 MiB of contents against 12 MiB free; the spool is elsewhere, so the tar's own writes fill the disk.
        var layers = Enumerable.Range(0, 2).Select(i => RandomLayers.Make(seed: 70 + i, $"layer{i}", files: 40, 128 << 10, 700 << 10)).ToList();
        string image = SyntheticImage.WriteLayout(Scratch.Combine("image"), layers.Select(l => l.Tar));
        await using var ext4 = await LoopFilesystem.CreateAsync(LoopFilesystemKind.Ext4, 128L << 20, Token);
        const long FreeBytes = 12 << 20;
        new FileStream(ext4.Combine("filler"), new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, PreallocationSize = ext4.AvailableBytes - FreeBytes }).Dispose();
        string outputs = ext4.Combine("outputs");
        System.IO.Directory.CreateDirectory(outputs);
        string spool = Scratch.Combine("spool");
        System.IO.Directory.CreateDirectory(spool);

        var options = new ExportOptions { Output = Path.Combine(outputs, "image.tar"), Format = OutputFormat.Tar, FormatOptions = new TarWriterOptions { SpoolDirectory = spool } };
        var error = await Assert.ThrowsAnyAsync<IOException>(() => ImageExporter.ExportAsync(image, options, cancellationToken: Token));

        Assert.Contains("space", error.Message, StringComparison.OrdinalIgnoreCase);
        Assert.Empty(System.IO.Directory.EnumerateFileSystemEntries(outputs));
        Assert.Empty(System.IO.Directory.EnumerateFileSystemEntries(spool));
    }
}
