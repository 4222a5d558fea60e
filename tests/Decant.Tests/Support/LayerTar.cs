using System.Formats.Tar;
using System.Text;

namespace Decant.Tests.Support;

/// <summary>
/// Builds precise layer tars for tests with System.Formats.Tar, an independent producer.
/// Each call adds one entry; a case reads like the layer it describes.
/// </summary>
public sealed class LayerTar
{
    private readonly List<Action<TarWriter>> _entries = [];

    public static DateTimeOffset DefaultTime { get; } = new(2024, 1, 2, 3, 4, 5, TimeSpan.Zero);

    public LayerTar Dir(string name, int mode = 0b111_101_101, int uid = 0, int gid = 0, DateTimeOffset? mtime = null, Dictionary<string, string>? xattrs = null) =>
        Add(TarEntryType.Directory, name.EndsWith('/') ? name : name + "/", mode, uid, gid, mtime, xattrs);

    public LayerTar File(string name, string content = "", int mode = 0b110_100_100, int uid = 0, int gid = 0, DateTimeOffset? mtime = null, Dictionary<string, string>? xattrs = null) =>
        Add(TarEntryType.RegularFile, name, mode, uid, gid, mtime, xattrs, data: Encoding.UTF8.GetBytes(content));

    public LayerTar File(string name, byte[] content, int mode = 0b110_100_100) =>
        Add(TarEntryType.RegularFile, name, mode, 0, 0, null, null, data: content);

    public LayerTar Symlink(string name, string target) =>
        Add(TarEntryType.SymbolicLink, name, 0b111_111_111, 0, 0, null, null, link: target);

    public LayerTar Hardlink(string name, string target) =>
        Add(TarEntryType.HardLink, name, 0b110_100_100, 0, 0, null, null, link: target);

    public LayerTar Fifo(string name, int mode = 0b110_100_100) => Add(TarEntryType.Fifo, name, mode, 0, 0, null, null);

    public LayerTar CharDevice(string name, int major, int minor) =>
        Add(TarEntryType.CharacterDevice, name, 0b110_110_110, 0, 0, null, null, device: (major, minor));

    public LayerTar Whiteout(string path)
    {
        int slash = path.LastIndexOf('/');
        string name = slash < 0 ? ".wh." + path : path[..(slash + 1)] + ".wh." + path[(slash + 1)..];
        return File(name);
    }

    public LayerTar Opaque(string directory) => File(directory.TrimEnd('/') + "/.wh..wh..opq");

    private LayerTar Add(TarEntryType type, string name, int mode, int uid, int gid, DateTimeOffset? mtime, Dictionary<string, string>? xattrs, byte[]? data = null, string? link = null, (int Major, int Minor)? device = null)
    {
        _entries.Add(writer =>
        {
            var entry = xattrs is null
                ? new PaxTarEntry(type, name)
                : new PaxTarEntry(type, name, xattrs.ToDictionary(x => "SCHILY.xattr." + x.Key, x => x.Value));
            entry.Mode = (UnixFileMode)mode;
            entry.Uid = uid;
            entry.Gid = gid;
            entry.ModificationTime = mtime ?? DefaultTime;
            if (link is not null)
            {
                entry.LinkName = link;
            }
            if (device is { } d)
            {
                entry.DeviceMajor = d.Major;
                entry.DeviceMinor = d.Minor;
            }
            if (data is not null)
            {
                entry.DataStream = new MemoryStream(data);
            }
            writer.WriteEntry(entry);
        });
        return this;
    }

    public byte[] ToArray()
    {
        using var buffer = new MemoryStream();
        using (var writer = new TarWriter(buffer, TarEntryFormat.Pax, leaveOpen: true))
        {
            foreach (var add in _entries)
            {
                add(writer);
            }
        }
        return buffer.ToArray();
    }
}
