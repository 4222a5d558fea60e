using System.Diagnostics;
using System.Runtime.Versioning;
using System.Security.Cryptography;
using System.Text;
using Decant.Layers;
using Decant.Model;
using GnuTarEntry = System.Formats.Tar.GnuTarEntry;
using PaxTarEntry = System.Formats.Tar.PaxTarEntry;
using TarEntryType = System.Formats.Tar.TarEntryType;
using TarWriter = System.Formats.Tar.TarWriter;
using UstarTarEntry = System.Formats.Tar.UstarTarEntry;
using V7TarEntry = System.Formats.Tar.V7TarEntry;

namespace Decant.Tests.Layers;

/// <summary>Runs the command-line tools that tests use as independent producers; a missing tool fails the test.</summary>
internal static class TarTestTools
{
    public static string Require(string tool)
    {
        foreach (string directory in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = Path.Combine(directory, tool);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }
        Assert.Fail($"this test needs the '{tool}' command, which is not installed on this machine (PATH has no '{tool}')");
        return tool;
    }

    /// <summary>Runs a tool and returns its standard output; a non-zero exit fails the test with its error output.</summary>
    public static async Task<byte[]> RunAsync(string tool, IEnumerable<string> arguments, string? workingDirectory = null)
    {
        var start = new ProcessStartInfo(Require(tool))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
        };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        using var process = Process.Start(start)!;
        using var output = new MemoryStream();
        var copy = process.StandardOutput.BaseStream.CopyToAsync(output);
        string errors = await process.StandardError.ReadToEndAsync();
        await copy;
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            Assert.Fail($"{tool} {string.Join(' ', arguments)} failed with exit code {process.ExitCode}: {errors}");
        }
        return output.ToArray();
    }
}

/// <summary>A temporary directory tree that tests fill, archive with a real tool, and compare with what the reader yields.</summary>
internal sealed class TarTestTree : IDisposable
{
    public TarTestTree()
    {
        Root = Directory.CreateTempSubdirectory("decant-tar-").FullName;
        Content = Path.Combine(Root, "content");
        Directory.CreateDirectory(Content);
    }

    public string Root { get; }
    public string Content { get; }

    public string Write(string relative, byte[] data)
    {
        string path = Path.Combine(Content, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, data);
        return path;
    }

    public async Task<byte[]> TarAsync(params string[] options)
    {
        string archive = Path.Combine(Root, "archive.tar");
        await TarTestTools.RunAsync("tar", [.. options, "-C", Content, "-cf", archive, "."]);
        return await File.ReadAllBytesAsync(archive);
    }

    public void Dispose() => Directory.Delete(Root, recursive: true);
}

[UnsupportedOSPlatform("windows")]
public class TarToolArchiveTests
{
    private sealed record ReadEntry(TarHeader Header, byte[] Sha256);

    private static async Task<Dictionary<string, ReadEntry>> ReadArchiveAsync(byte[] archive)
    {
        var reader = new LayerTarReader(new MemoryStream(archive));
        var entries = new Dictionary<string, ReadEntry>(StringComparer.Ordinal);
        while (await reader.ReadNextAsync(CancellationToken.None) is { } header)
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            await using var data = reader.OpenData();
            byte[] buffer = new byte[8192];
            int read;
            while ((read = await data.ReadAsync(buffer)) > 0)
            {
                hash.AppendData(buffer, 0, read);
            }
            string name = header.Name.StartsWith("./", StringComparison.Ordinal) ? header.Name[2..] : header.Name;
            entries[name.TrimEnd('/')] = new ReadEntry(header, hash.GetHashAndReset());
        }
        await reader.DrainAsync(CancellationToken.None);
        Assert.Equal(archive.Length, reader.BytesRead);
        return entries;
    }

    private static byte[] RandomBytes(int length, int seed)
    {
        byte[] data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }

    /// <summary>Checks every file-system object under the tree against the entry the reader returned for it.</summary>
    private static void AssertMatchesTree(TarTestTree tree, Dictionary<string, ReadEntry> entries)
    {
        var expected = Directory.EnumerateFileSystemEntries(tree.Content, "*", SearchOption.AllDirectories).ToList();
        Assert.Equal(expected.Count, entries.Count - 1); // the archive also holds "." itself
        foreach (string path in expected)
        {
            string relative = Path.GetRelativePath(tree.Content, path);
            Assert.True(entries.TryGetValue(relative, out var entry), $"the reader returned no entry for {relative}");
            var info = new FileInfo(path);
            var header = entry.Header;
            if (info.LinkTarget is { } target)
            {
                Assert.Equal(TarEntryKind.Symlink, header.Kind);
                Assert.Equal(target, header.LinkName);
                continue;
            }
            Assert.Equal((uint)File.GetUnixFileMode(path), header.Mode);
            Assert.Equal(new DateTimeOffset(info.LastWriteTimeUtc).ToUnixTimeSeconds(), header.ModificationTime.Seconds);
            if (info.Attributes.HasFlag(FileAttributes.Directory))
            {
                Assert.Equal(TarEntryKind.Directory, header.Kind);
            }
            else if (relative.EndsWith("pipe", StringComparison.Ordinal))
            {
                Assert.Equal(TarEntryKind.Fifo, header.Kind);
            }
            else if (header.Kind == TarEntryKind.Hardlink)
            {
                string linked = header.LinkName.StartsWith("./", StringComparison.Ordinal) ? header.LinkName[2..] : header.LinkName;
                Assert.Equal(SHA256.HashData(File.ReadAllBytes(Path.Combine(tree.Content, linked))), SHA256.HashData(File.ReadAllBytes(path)));
            }
            else
            {
                Assert.Equal(TarEntryKind.RegularFile, header.Kind);
                Assert.Equal(info.Length, header.Size);
                Assert.Equal(SHA256.HashData(File.ReadAllBytes(path)), entry.Sha256);
            }
        }
    }

    private static async Task FillCommonTreeAsync(TarTestTree tree, bool withFifo)
    {
        tree.Write("d/small.txt", "hello\n"u8.ToArray());
        tree.Write("d/random.bin", RandomBytes(300_000, 1));
        tree.Write("d/exactly-one-block", RandomBytes(512, 2));
        tree.Write("empty", []);
        string setuid = tree.Write("d/sub/setuid-tool", RandomBytes(1000, 3));
        File.SetUnixFileMode(setuid, UnixFileMode.SetUser | UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.OtherExecute);
        tree.Write("ünï-名前 ☃.txt", "non-ascii\n"u8.ToArray());
        File.CreateSymbolicLink(Path.Combine(tree.Content, "d/link"), "small.txt");
        File.CreateSymbolicLink(Path.Combine(tree.Content, "abs-link"), "/etc/passwd");
        await TarTestTools.RunAsync("ln", [Path.Combine(tree.Content, "d/small.txt"), Path.Combine(tree.Content, "hard")]);
        if (withFifo)
        {
            await TarTestTools.RunAsync("mkfifo", [Path.Combine(tree.Content, "d/pipe")]);
        }
    }

    [Theory]
    [InlineData("gnu")]
    [InlineData("pax")]
    [InlineData("ustar")]
    [InlineData("v7")]
    public async Task ReadsWhatGnuTarWrote(string format)
    {
        using var tree = new TarTestTree();
        await FillCommonTreeAsync(tree, withFifo: format != "v7");

        var entries = await ReadArchiveAsync(await tree.TarAsync($"--format={format}"));

        AssertMatchesTree(tree, entries);
        Assert.Single(entries.Values, e => e.Header.Kind == TarEntryKind.Hardlink);
    }

    [Theory]
    [InlineData("gnu", 300)]
    [InlineData("pax", 300)]
    [InlineData("ustar", 200)]
    public async Task ReadsLongNames(string format, int pathLength)
    {
        using var tree = new TarTestTree();
        string directory = string.Join('/', Enumerable.Range(0, pathLength / 50).Select(i => new string((char)('a' + i), 49)));
        string longPath = directory + "/" + new string('f', 40) + ".txt";
        tree.Write(longPath, "deep\n"u8.ToArray());
        if (format != "ustar")
        {
            tree.Write(new string('x', 150), "long leaf\n"u8.ToArray());
            File.CreateSymbolicLink(Path.Combine(tree.Content, "long-target"), new string('t', 180));
        }

        var entries = await ReadArchiveAsync(await tree.TarAsync($"--format={format}"));

        Assert.True(longPath.Length > (format == "ustar" ? 100 : 255));
        AssertMatchesTree(tree, entries);
    }

    [Theory]
    [InlineData("pax", "2020-01-02 03:04:05.123456789", 1577934245L, 123456789u)]
    [InlineData("pax", "1960-06-01 00:00:00.5", -302486400L + 0, 500000000u)]
    [InlineData("gnu", "1960-06-01 00:00:00", -302486400L, 0u)]
    public async Task ReadsSubSecondAndNegativeModificationTimes(string format, string touchDate, long seconds, uint nanoseconds)
    {
        using var tree = new TarTestTree();
        string file = tree.Write("timed", "t"u8.ToArray());
        await TarTestTools.RunAsync("touch", ["-d", touchDate + " UTC", file]);

        var entries = await ReadArchiveAsync(await tree.TarAsync($"--format={format}"));

        Assert.Equal(new Timestamp(seconds, nanoseconds), entries["timed"].Header.ModificationTime);
    }

    [Theory]
    [InlineData("gnu")]
    [InlineData("pax")]
    public async Task ReadsBigOwnerIds(string format)
    {
        using var tree = new TarTestTree();
        tree.Write("owned", "o"u8.ToArray());

        var entries = await ReadArchiveAsync(await tree.TarAsync($"--format={format}", "--owner=big:3000000000", "--group=huge:4000000000"));

        var header = entries["owned"].Header;
        Assert.Equal((3_000_000_000L, 4_000_000_000L), (header.Uid, header.Gid));
        Assert.Equal(("big", "huge"), (header.UserName, header.GroupName));
    }

    [Fact]
    public async Task ReadsXattrsWithBinaryValues()
    {
        using var tree = new TarTestTree();
        string file = tree.Write("with-xattrs", "x"u8.ToArray());
        await TarTestTools.RunAsync("setfattr", ["-n", "user.binary", "-v", "0x0001ff0a3d00", file]);
        await TarTestTools.RunAsync("setfattr", ["-n", "user.text", "-v", "plain value", file]);

        var entries = await ReadArchiveAsync(await tree.TarAsync("--format=pax", "--xattrs", "--xattrs-include=user.*"));

        var xattrs = entries["with-xattrs"].Header.Xattrs.ToDictionary(x => x.Key, x => x.Value);
        Assert.Equal(new byte[] { 0x00, 0x01, 0xFF, 0x0A, 0x3D, 0x00 }, xattrs["user.binary"]);
        Assert.Equal("plain value"u8.ToArray(), xattrs["user.text"]);
    }

    [Theory]
    [InlineData("gnu", null)]
    [InlineData("pax", "0.0")]
    [InlineData("pax", "0.1")]
    [InlineData("pax", "1.0")]
    public async Task ExpandsSparseFiles(string format, string? sparseVersion)
    {
        using var tree = new TarTestTree();
        string path = Path.Combine(tree.Content, "sparse.img");
        await using (var file = new FileStream(path, FileMode.Create, FileAccess.Write))
        {
            file.SetLength(50_000_000);
            foreach (long offset in new long[] { 0, 4096 * 300, 20_000_000, 50_000_000 - 100 })
            {
                file.Position = offset;
                await file.WriteAsync(RandomBytes(100, (int)(offset % 1000)));
            }
        }
        tree.Write("plain-after", "after\n"u8.ToArray());
        string[] options = sparseVersion is null
            ? [$"--format={format}", "--sparse"]
            : [$"--format={format}", "--sparse", $"--sparse-version={sparseVersion}"];

        byte[] archive = await tree.TarAsync(options);
        var entries = await ReadArchiveAsync(archive);

        Assert.True(archive.Length < 1_000_000, "tar should have stored the file sparsely");
        AssertMatchesTree(tree, entries);
    }

    [Fact]
    public async Task ReadsWhatSystemFormatsTarWrote()
    {
        byte[] big = RandomBytes(1_000_000, 9);
        string longName = "dir/" + new string('n', 120) + "/" + new string('é', 80);
        using var archive = new MemoryStream();
        await using (var writer = new TarWriter(archive, leaveOpen: true))
        {
            var pax = new PaxTarEntry(TarEntryType.RegularFile, longName, new Dictionary<string, string>
            {
                ["SCHILY.xattr.user.comment"] = "written by TarWriter",
            })
            {
                ModificationTime = DateTimeOffset.FromUnixTimeMilliseconds(1_234_567_890_500),
                DataStream = new MemoryStream(big),
                Uid = 123_456_789,
            };
            await writer.WriteEntryAsync(pax);
            await writer.WriteEntryAsync(new GnuTarEntry(TarEntryType.SymbolicLink, "gnu-link") { LinkName = new string('k', 150) });
            await writer.WriteEntryAsync(new UstarTarEntry(TarEntryType.Directory, "ustar-dir/"));
            await writer.WriteEntryAsync(new V7TarEntry(TarEntryType.V7RegularFile, "v7-file") { DataStream = new MemoryStream("v7"u8.ToArray()) });
        }

        var entries = await ReadArchiveAsync(archive.ToArray());

        var file = entries[longName].Header;
        Assert.Equal(SHA256.HashData(big), entries[longName].Sha256);
        Assert.Equal(big.Length, file.Size);
        Assert.Equal(123_456_789, file.Uid);
        Assert.Equal(new Timestamp(1_234_567_890, 500_000_000), file.ModificationTime);
        Assert.Equal("written by TarWriter"u8.ToArray(), Assert.Single(file.Xattrs).Value);
        Assert.Equal(new string('k', 150), entries["gnu-link"].Header.LinkName);
        Assert.Equal(TarEntryKind.Directory, entries["ustar-dir"].Header.Kind);
        Assert.Equal(SHA256.HashData("v7"u8), entries["v7-file"].Sha256);
    }
}
