using System.Formats.Tar;
using System.Runtime.InteropServices;
using System.Text;
using Decant.Model;
using Decant.Sources.ContainersStorage;
using Decant.Tests.Support;

namespace Decant.Tests.Sources;

/// <summary>
/// The tar of an overlay diff directory (a store layer without its tar-split record): overlay's
/// whiteouts and opaque marking become OCI's, overlay's own xattrs are dropped and the rest kept,
/// hardlinks within the layer are link entries, names come in byte order, sockets are left out, and
/// an overlay feature no tar can say (a redirect) is an error naming the entry. Needs root for the
/// 0/0 device and trusted.* xattrs, as the store itself does.
/// </summary>
public sealed partial class DiffDirectoryLayerStreamTests : IDisposable
{
    private readonly ScratchDirectory _scratch = new();

    public void Dispose() => _scratch.Dispose();

    [LibraryImport("libc", EntryPoint = "mknod", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Mknod(string path, uint mode, ulong device);

    [LibraryImport("libc", EntryPoint = "lsetxattr", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Lsetxattr(string path, string name, byte[] value, nuint size, int flags);

    [LibraryImport("libc", EntryPoint = "link", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Link(string existing, string created);

    private static void SetXattr(string path, string name, string value)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(value);
        Assert.True(Lsetxattr(path, name, bytes, (nuint)bytes.Length, 0) == 0, $"lsetxattr {name} on {path}: errno {Marshal.GetLastPInvokeError()}");
    }

    private static void MakeNode(string path, uint mode) =>
        Assert.True(Mknod(path, mode, 0) == 0, $"mknod {path}: errno {Marshal.GetLastPInvokeError()}");

    private string DiffDirectory()
    {
        Assert.True(Environment.IsPrivilegedProcess, "these tests make a 0/0 device and trusted.* xattrs, as overlay does: run them as root");
        string diff = _scratch.Combine("diff");
        Directory.CreateDirectory(Path.Combine(diff, "etc", "opaque"));
        Directory.CreateDirectory(Path.Combine(diff, "b"));
        File.WriteAllText(Path.Combine(diff, "etc", "hello"), "hello\n");
        File.CreateSymbolicLink(Path.Combine(diff, "etc", "link"), "hello");
        Assert.Equal(0, Link(Path.Combine(diff, "etc", "hello"), Path.Combine(diff, "b", "second")));
        File.WriteAllText(Path.Combine(diff, "etc", "opaque", "kept"), "");
        SetXattr(Path.Combine(diff, "etc", "opaque"), "trusted.overlay.opaque", "y");
        SetXattr(Path.Combine(diff, "etc", "opaque"), "user.note", "mine");
        SetXattr(Path.Combine(diff, "etc", "hello"), "trusted.overlay.origin", "x");
        MakeNode(Path.Combine(diff, "etc", "gone"), 0x2000); // a 0/0 character device: overlay's whiteout
        MakeNode(Path.Combine(diff, "fifo"), 0x1000 | 0b110_100_100);
        using (var socket = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified))
        {
            socket.Bind(new System.Net.Sockets.UnixDomainSocketEndPoint(Path.Combine(diff, "socket")));
        }
        return diff;
    }

    private static async Task<List<(string Name, TarEntryType Type, string Link, string Data, IReadOnlyDictionary<string, string> Xattrs)>> ReadAsync(Stream stream)
    {
        var entries = new List<(string, TarEntryType, string, string, IReadOnlyDictionary<string, string>)>();
        await using (stream)
        {
            using var copy = new MemoryStream();
            await stream.CopyToAsync(copy);
            copy.Position = 0;
            using var reader = new TarReader(copy);
            while (await reader.GetNextEntryAsync() is { } entry)
            {
                string data = entry.DataStream is { } content ? await new StreamReader(content).ReadToEndAsync() : "";
                var xattrs = entry is PaxTarEntry pax
                    ? pax.ExtendedAttributes.Where(a => a.Key.StartsWith("SCHILY.xattr.", StringComparison.Ordinal)).ToDictionary(a => a.Key["SCHILY.xattr.".Length..], a => a.Value)
                    : new Dictionary<string, string>();
                entries.Add((entry.Name, entry.EntryType, entry.LinkName, data, xattrs));
            }
        }
        return entries;
    }

    [Fact]
    public async Task OverlayMarkingsBecomeOciWhiteoutsAndTheRestIsKept()
    {
        var entries = await ReadAsync(DiffDirectoryLayerStream.Open(DiffDirectory(), "layer x"));
        Assert.Equal(
            ["b/", "b/second", "etc/", "etc/.wh.gone", "etc/hello", "etc/link", "etc/opaque/", "etc/opaque/.wh..wh..opq", "etc/opaque/kept", "fifo"],
            entries.Select(entry => entry.Name));
        var byName = entries.ToDictionary(entry => entry.Name);
        Assert.Equal("hello\n", byName["b/second"].Data);
        Assert.Equal((TarEntryType.HardLink, "b/second"), (byName["etc/hello"].Type, byName["etc/hello"].Link));
        Assert.Equal((TarEntryType.SymbolicLink, "hello"), (byName["etc/link"].Type, byName["etc/link"].Link));
        Assert.Equal(TarEntryType.Fifo, byName["fifo"].Type);
        Assert.Equal(new Dictionary<string, string> { ["user.note"] = "mine" }, byName["etc/opaque/"].Xattrs);
        Assert.Empty(byName["etc/hello"].Xattrs);
    }

    [Fact]
    public async Task ARedirectedDirectoryIsAnErrorNamingIt()
    {
        string diff = DiffDirectory();
        SetXattr(Path.Combine(diff, "b"), "trusted.overlay.redirect", "/a");
        var error = await Assert.ThrowsAsync<DecantException>(() => ReadAsync(DiffDirectoryLayerStream.Open(diff, "layer x")));
        Assert.Equal(DecantErrorKind.InvalidLayer, error.Kind);
        Assert.StartsWith("layer x: ", error.Message, StringComparison.Ordinal);
        Assert.Contains("/b is marked trusted.overlay.redirect", error.Message, StringComparison.Ordinal);
    }
}
