using System.Formats.Tar;
using System.Runtime.InteropServices;
using System.Text;
using Decant.Tests.Support;

namespace Decant.Tests.Conformance;

/// <summary>
/// A rootfs as comparable lines, one per path (the root left out), from either a directory or a
/// flattened tar, so one expectation checks both outputs:
/// <c>d PATH MODE</c>, <c>f PATH MODE =CONTENT</c>, <c>l PATH -> TARGET</c>, <c>h PATH => FIRST</c>,
/// <c>p PATH MODE</c>, <c>c PATH MODE MAJOR,MINOR</c>. Hardlinked paths after the first (in ordinal
/// order) are <c>h</c> lines naming the first.
/// </summary>
internal static partial class RootfsListing
{
    /// <summary>
    /// The listing of an export's output in any registered format, read by the format's own oracle:
    /// the directory itself, the tar, or the ext4 or EROFS image mounted read-only by the kernel
    /// (<c>lost+found</c> left out; an EROFS image passes <c>fsck.erofs</c> first). A format without an oracle here fails the test that reaches it.
    /// </summary>
    public static async Task<List<string>> FromOutputAsync(Decant.Writers.OutputFormat format, string output)
    {
        if (format.IsDirectory)
        {
            return FromDirectory(output);
        }
        if (format == Decant.Writers.OutputFormat.Tar)
        {
            return FromTar(output);
        }
        if (format == Decant.Writers.OutputFormat.Ext4 || format == Decant.Writers.OutputFormat.Erofs)
        {
            string mountPoint = Directory.CreateTempSubdirectory("decant-listing-").FullName;
            try
            {
                if (format == Decant.Writers.OutputFormat.Erofs)
                {
                    await Tools.RunCheckedAsync("fsck.erofs", [output], CancellationToken.None);
                }
                await Tools.RunCheckedAsync("mount", ["-t", format.Name, "-o", "loop,ro", output, mountPoint], CancellationToken.None);
                try
                {
                    return FromDirectory(mountPoint).Where(line => !line.StartsWith("d lost+found ", StringComparison.Ordinal)).ToList();
                }
                finally
                {
                    await Tools.RunCheckedAsync("umount", [mountPoint], CancellationToken.None);
                }
            }
            finally
            {
                Directory.Delete(mountPoint);
            }
        }
        throw new NotSupportedException($"no listing oracle for the {format} output: add one to RootfsListing.FromOutputAsync so the conformance and hostile tables cover it");
    }

    public static List<string> FromTar(string tarPath)
    {
        var lines = new List<string>();
        using var stream = File.OpenRead(tarPath);
        using var reader = new TarReader(stream);
        while (reader.GetNextEntry() is { } entry)
        {
            string path = entry.Name.TrimEnd('/');
            if (path is "." or "")
            {
                continue;
            }
            string mode = Mode((int)entry.Mode);
            lines.Add(entry.EntryType switch
            {
                TarEntryType.Directory => $"d {path} {mode}",
                TarEntryType.RegularFile or TarEntryType.V7RegularFile => $"f {path} {mode} ={Read(entry.DataStream)}",
                TarEntryType.SymbolicLink => $"l {path} -> {entry.LinkName}",
                TarEntryType.HardLink => $"h {path} => {entry.LinkName}",
                TarEntryType.Fifo => $"p {path} {mode}",
                TarEntryType.CharacterDevice => $"c {path} {mode} {((PosixTarEntry)entry).DeviceMajor},{((PosixTarEntry)entry).DeviceMinor}",
                _ => $"? {path} {entry.EntryType}",
            });
        }
        lines.Sort(StringComparer.Ordinal);
        return lines;
    }

    public static List<string> FromDirectory(string root)
    {
        var lines = new List<string>();
        var firstPathOfInode = new Dictionary<ulong, string>();
        var paths = new List<string>();
        Collect(root, "", paths);
        paths.Sort(StringComparer.Ordinal);
        foreach (var path in paths)
        {
            string full = Path.Combine(root, path);
            var stat = LStat(full);
            string mode = Mode((int)(stat.Mode & 0xFFF));
            int type = (int)(stat.Mode & 0xF000);
            if (type != 0x4000 && stat.Links > 1)
            {
                if (firstPathOfInode.TryGetValue(stat.Inode, out var first))
                {
                    lines.Add($"h {path} => {first}");
                    continue;
                }
                firstPathOfInode[stat.Inode] = path;
            }
            lines.Add(type switch
            {
                0x4000 => $"d {path} {mode}",
                0x8000 => $"f {path} {mode} ={File.ReadAllText(full)}",
                0xA000 => $"l {path} -> {new FileInfo(full).LinkTarget}",
                0x1000 => $"p {path} {mode}",
                0x2000 => $"c {path} {mode} {stat.Rdev >> 8 & 0xFFF},{(stat.Rdev & 0xFF) | (stat.Rdev >> 12 & 0xFFF00)}",
                _ => $"? {path} {type:x}",
            });
        }
        lines.Sort(StringComparer.Ordinal);
        return lines;
    }

    private static void Collect(string root, string relative, List<string> paths)
    {
        foreach (var entry in new DirectoryInfo(Path.Combine(root, relative)).EnumerateFileSystemInfos())
        {
            string path = relative.Length == 0 ? entry.Name : relative + "/" + entry.Name;
            paths.Add(path);
            if (entry is DirectoryInfo && entry.LinkTarget is null)
            {
                Collect(root, path, paths);
            }
        }
    }

    private static string Mode(int mode) => Convert.ToString(mode, 8).PadLeft(4, '0');

    private static string Read(Stream? data)
    {
        if (data is null)
        {
            return "";
        }
        using var reader = new StreamReader(data, Encoding.UTF8);
        return reader.ReadToEnd();
    }

    internal readonly record struct StatInfo(ulong Inode, ulong Links, uint Mode, uint Uid, uint Gid, ulong Rdev);

    internal static StatInfo LStat(string path)
    {
        Span<byte> buffer = stackalloc byte[256];
        if (lstat(path, ref MemoryMarshal.GetReference(buffer)) != 0)
        {
            throw new IOException($"lstat {path} failed: errno {Marshal.GetLastPInvokeError()}");
        }
        // x86_64 struct stat: dev 0, ino 8, nlink 16, mode 24, uid 28, gid 32, rdev 40.
        return new StatInfo(
            BitConverter.ToUInt64(buffer[8..]), BitConverter.ToUInt64(buffer[16..]),
            BitConverter.ToUInt32(buffer[24..]), BitConverter.ToUInt32(buffer[28..]),
            BitConverter.ToUInt32(buffer[32..]), BitConverter.ToUInt64(buffer[40..]));
    }

    [LibraryImport("libc", EntryPoint = "lstat", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int lstat(string path, ref byte buffer);
}
