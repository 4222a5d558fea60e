using System.Formats.Tar;
using System.IO.Compression;
using System.Text;
using Decant.Export;
using Decant.Model;
using Decant.Tests.Conformance;
using Decant.Tests.Layers;
using Decant.Tests.Support;
using Decant.Writers;

namespace Decant.Tests.Hostile;

/// <summary>
/// Hostile archives: each is refused with a clear error, or neutralised inside the target. A
/// sentinel directory beside the target proves nothing outside it was touched, and a refused
/// export leaves nothing behind.
/// </summary>
public class HostileLayerTests
{
    /// <summary>One hostile case: the layers, and either the error it must raise or the tree it must give.</summary>
    public record Hostile(string Name, Func<byte[]>[] Layers, DecantErrorKind? Error = null, string[]? Expect = null, bool Gzip = true)
    {
        public override string ToString() => Name;
    }

    public static TheoryData<Hostile, OutputFormat> Cases()
    {
        var data = new TheoryData<Hostile, OutputFormat>();
        foreach (var c in All())
        {
            foreach (var format in Formats.All)
            {
                data.Add(c, format);
            }
        }
        return data;
    }

    private static Func<byte[]> L(LayerTar tar) => tar.ToArray;

    internal static IEnumerable<Hostile> All()
    {
        const DecantErrorKind Unsafe = DecantErrorKind.UnsafeLayer;
        // Names
        yield return new("dot-dot name", [L(new LayerTar().File("../escape", "x"))], Unsafe);
        yield return new("absolute dot-dot name", [L(new LayerTar().File("/../escape", "x"))], Unsafe);
        yield return new("climbing through a directory", [L(new LayerTar().File("a/../../escape", "x"))], Unsafe);
        yield return new("deep climb", [L(new LayerTar().File("a/b/../../../../../../tmp/escape", "x"))], Unsafe);
        yield return new("PAX path overriding a benign name", [() => Raw(w => w.WriteEntry(Pax(TarEntryType.RegularFile, "../pax-escape", "x")))], Unsafe);
        yield return new("GNU long name climbing", [() => Raw(w => w.WriteEntry(new GnuTarEntry(TarEntryType.RegularFile, "../" + new string('a', 150)) { DataStream = new MemoryStream("x"u8.ToArray()) }), TarEntryFormat.Gnu)], Unsafe);
        yield return new("an absolute name is confined to the root", [L(new LayerTar().File("/etc/abs", "x"))], Expect: ["d etc 0755", "f etc/abs 0644 =x"]);
        yield return new("a name like ..gitme is ordinary", [L(new LayerTar().File("..gitme", "ok"))], Expect: ["f ..gitme 0644 =ok"]);
        yield return new("a directory named with dots inside is ordinary", [L(new LayerTar().File("a/...b/c", "ok"))], Expect: ["d a 0755", "d a/...b 0755", "f a/...b/c 0644 =ok"]);
        // Symlinks
        yield return new("relative symlink climbing, then a write through it",
            [L(new LayerTar().Symlink("esc", "../../../..")), L(new LayerTar().File("esc/victim", "x"))],
            Expect: ["f victim 0644 =x", "l esc -> ../../../.."]);
        yield return new("absolute symlink to the host, then a write through it",
            [L(new LayerTar().Symlink("esc", "/tmp")), L(new LayerTar().File("esc/victim", "x"))],
            Expect: ["d tmp 0755", "f tmp/victim 0644 =x", "l esc -> /tmp"]);
        yield return new("symlink and write in the same layer",
            [L(new LayerTar().Symlink("esc", "../..").File("esc/victim", "x"))],
            Expect: ["f victim 0644 =x", "l esc -> ../.."]);
        yield return new("chained symlinks: inner/up -> .., then inner/up/escape -> ../victim",
            [L(new LayerTar().Dir("inner").Symlink("inner/up", "..").Symlink("inner/up/escape", "../victim")), L(new LayerTar().File("escape/x", "y"))],
            Expect: ["d inner 0755", "d victim 0755", "f victim/x 0644 =y", "l escape -> ../victim", "l inner/up -> .."]);
        yield return new("a directory replaced by a symlink in a later layer, then written through",
            [L(new LayerTar().Dir("d")), L(new LayerTar().Symlink("d", "/../../etc")), L(new LayerTar().File("d/passwd", "root"))],
            Expect: ["d etc 0755", "f etc/passwd 0644 =root", "l d -> /../../etc"]);
        yield return new("a symlink loop on the way is an error",
            [L(new LayerTar().Symlink("a", "b").Symlink("b", "a")), L(new LayerTar().File("a/x", "x"))], Unsafe);
        yield return new("a long symlink chain is an error",
            [L(Chain(60)), L(new LayerTar().File("s0/x", "x"))], Unsafe);
        yield return new("a magic-link lookalike stays inside the root",
            [L(new LayerTar().Symlink("p", "/proc/self/root")), L(new LayerTar().File("p/x", "x"))],
            Expect: ["d proc 0755", "d proc/self 0755", "d proc/self/root 0755", "f proc/self/root/x 0644 =x", "l p -> /proc/self/root"]);
        // Hardlinks
        yield return new("hardlink to ../x", [L(new LayerTar().Hardlink("h", "../x"))], Unsafe);
        yield return new("hardlink to /../x", [L(new LayerTar().Hardlink("h", "/../x"))], Unsafe);
        yield return new("hardlink to an absolute host path that the image lacks", [L(new LayerTar().Hardlink("h", "/etc/hostname"))], Unsafe);
        yield return new("hardlink through an escaping symlink",
            [L(new LayerTar().Symlink("esc", "../../../../etc")), L(new LayerTar().Hardlink("h", "esc/passwd"))], Unsafe);
        yield return new("hardlink to a directory", [L(new LayerTar().Dir("d").Hardlink("h", "d"))], Unsafe);
        yield return new("hardlink to the root", [L(new LayerTar().Hardlink("h", "."))], Unsafe);
        yield return new("hardlink to a missing file", [L(new LayerTar().Hardlink("h", "missing"))], Unsafe);
        yield return new("hardlink to a symlink, then a metadata change on the link",
            [L(new LayerTar().Symlink("sym", "/etc/shadow").Hardlink("h", "sym")), L(new LayerTar().File("h", "replaced", mode: 0b111_111_111))],
            Expect: ["f h 0777 =replaced", "l sym -> /etc/shadow"]);
        yield return new("hardlink to a symlink keeps pointing at the link itself",
            [L(new LayerTar().Symlink("sym", "/etc/shadow").Hardlink("h", "sym"))],
            Expect: ["h sym => h", "l h -> /etc/shadow"]);
        // Whiteouts
        yield return new("whiteout .wh.", [L(new LayerTar().File(".wh."))], Unsafe);
        yield return new("whiteout .wh..", [L(new LayerTar().File(".wh.."))], Unsafe);
        yield return new("whiteout .wh...", [L(new LayerTar().File(".wh..."))], Unsafe);
        yield return new("whiteout sub/.wh...", [L(new LayerTar().File("sub/.wh..."))], Unsafe);
        yield return new("whiteout whose name climbs", [L(new LayerTar().File("../.wh.x"))], Unsafe);
        yield return new("whiteout under an escaping symlink hides nothing",
            [L(new LayerTar().Symlink("esc", "../../../tmp").File("keep", "k")), L(new LayerTar().Whiteout("esc/keep"))],
            Expect: ["f keep 0644 =k", "l esc -> ../../../tmp"]);
        yield return new("opaque whiteout under an escaping symlink hides nothing",
            [L(new LayerTar().Symlink("esc", "/").File("keep", "k")), L(new LayerTar().Opaque("esc"))],
            Expect: ["f keep 0644 =k", "l esc -> /"]);
        // The root entry
        yield return new("the root as a symlink", [L(new LayerTar().Symlink(".", "/"))], Unsafe);
        yield return new("the root as a file", [L(new LayerTar().File("./", "x"))], Unsafe);
        yield return new("the root as a symlink in a later layer", [L(new LayerTar().File("a", "a")), L(new LayerTar().Symlink("./", "/tmp"))], Unsafe);
        // Streams
        yield return new("random bytes instead of a tar", [() => RandomBytes(4096)], DecantErrorKind.InvalidLayer, Gzip: false);
        yield return new("truncated gzip", [() => SyntheticImage.Gzip(new LayerTar().File("f", new string('x', 100_000)).ToArray())[..200]], DecantErrorKind.InvalidLayer, Gzip: false);
        yield return new("truncated tar", [() => new LayerTar().File("f", new string('x', 10_000)).ToArray()[..3000]], DecantErrorKind.InvalidLayer, Gzip: false);
        yield return new("gzip with trailing garbage", [() => [.. SyntheticImage.Gzip(new LayerTar().File("f", "x").ToArray()), .. "garbage!"u8.ToArray()]], DecantErrorKind.InvalidLayer, Gzip: false);
        yield return new("a corrupted tar header checksum", [() => CorruptChecksum(new LayerTar().File("f", "x").ToArray())], DecantErrorKind.InvalidLayer);
        yield return new("a huge PAX header", [() => Raw(w => w.WriteEntry(Pax(TarEntryType.RegularFile, "f", "x", ("comment", new string('A', 4 << 20)))))], DecantErrorKind.LimitExceeded);
        yield return new("a huge xattr", [() => Raw(w => w.WriteEntry(Pax(TarEntryType.RegularFile, "f", "x", ("SCHILY.xattr.user.big", new string('A', 2 << 20)))))], DecantErrorKind.LimitExceeded);
        yield return new("a decompression bomb", [Bomb], DecantErrorKind.LimitExceeded, Gzip: false);
        // Sparse bombs: a tiny layer claiming a huge logical size; the holes count against the limit
        yield return new("PAX 0.1 sparse file of 16 TiB", [() => PaxSparse01(16L << 40)], DecantErrorKind.LimitExceeded);
        yield return new("PAX 1.0 sparse file of 16 TiB", [() => PaxSparse10(16L << 40)], DecantErrorKind.LimitExceeded);
        yield return new("old-GNU sparse file of 4 EiB", [() => OldGnuSparse(4L << 60)], DecantErrorKind.LimitExceeded);
        yield return new("two old-GNU sparse files whose sizes wrap a 64-bit sum", [() => OldGnuSparse(long.MaxValue - 1, twice: true)], DecantErrorKind.LimitExceeded);
        // Numeric header fields out of range (base-256 fields can be negative)
        const DecantErrorKind Invalid = DecantErrorKind.InvalidLayer;
        yield return new("old-GNU sparse with real size -1", [() => OneHeader(TarBlocks.Header("sparse", 'S', 0, magic: "ustar ", version: " \0", edit: b => TarBlocks.Base256(b, 483, 12, -1)))], Invalid);
        yield return new("old-GNU sparse with a negative segment offset", [() => OneHeader(TarBlocks.Header("sparse", 'S', 0, magic: "ustar ", version: " \0", edit: b =>
        {
            TarBlocks.Base256(b, 386, 12, -512);
            TarBlocks.Octal(b, 398, 12, 0);
            TarBlocks.Octal(b, 483, 12, 4096);
        }))], Invalid);
        yield return new("a negative size", [() => OneHeader(TarBlocks.Header("f", edit: b => TarBlocks.Base256(b, 124, 12, -1)))], Invalid);
        yield return new("a negative mode", [() => OneHeader(TarBlocks.Header("f", edit: b => TarBlocks.Base256(b, 100, 8, -1)))], Invalid);
        yield return new("a negative uid", [() => OneHeader(TarBlocks.Header("f", edit: b => TarBlocks.Base256(b, 108, 8, -1)))], Invalid);
        yield return new("a negative gid", [() => OneHeader(TarBlocks.Header("f", edit: b => TarBlocks.Base256(b, 116, 8, -2)))], Invalid);
        yield return new("a uid past 32 bits", [() => OneHeader(TarBlocks.Header("f", edit: b => TarBlocks.Base256(b, 108, 8, 1L << 32)))], Invalid);
        yield return new("a PAX uid of (uid_t)-1", [() => new TarBlocks().Pax(TarBlocks.PaxRecords(("uid", TarBlocks.Utf8("4294967295")))).File("f", []).End().ToArray()], Invalid);
        yield return new("a negative device major", [() => OneHeader(TarBlocks.Header("dev", '3', edit: b => TarBlocks.Base256(b, 329, 8, -1)))], Invalid);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task HostileLayerIsRefusedOrNeutralised(Hostile testCase, OutputFormat format)
    {
        using var scratch = new ScratchDirectory();
        string sentinel = scratch.Combine("sentinel");
        Directory.CreateDirectory(sentinel);
        File.WriteAllText(Path.Combine(sentinel, "victim"), "untouched");
        var sentinelBefore = RootfsListing.FromDirectory(sentinel);

        string reference = SyntheticImage.WriteLayout(scratch.Combine("image"), testCase.Layers.Select(make => make()), testCase.Gzip ? LayerCompressionForTest.Gzip : LayerCompressionForTest.None);
        string output = scratch.Combine("out", Formats.OutputName(format));
        Directory.CreateDirectory(scratch.Combine("out"));
        var options = new ExportOptions { Output = output, Format = format, MaxUnpackedBytes = 64L << 20 };

        if (testCase.Error is { } kind)
        {
            var error = await Assert.ThrowsAsync<DecantException>(() => ImageExporter.ExportAsync(reference, options));
            Assert.Equal(kind, error.Kind);
            Assert.StartsWith("layer sha256:", error.Describe(), StringComparison.Ordinal);
            Assert.Empty(Directory.GetFileSystemEntries(scratch.Combine("out")));
        }
        else
        {
            await ImageExporter.ExportAsync(reference, options);
            var actual = await RootfsListing.FromOutputAsync(format, output);
            Assert.Equal(testCase.Expect!.Order(StringComparer.Ordinal), actual);
            Assert.Equal([output], Directory.GetFileSystemEntries(scratch.Combine("out")));
        }
        Assert.Equal(sentinelBefore, RootfsListing.FromDirectory(sentinel));
        Assert.Equal(["image", "out", "sentinel"], Directory.GetFileSystemEntries(scratch.Path).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    private static readonly byte[] SparseData = Enumerable.Repeat((byte)'x', 512).ToArray();

    /// <summary>A PAX 0.1 sparse file: 512 bytes of data at the very end of <paramref name="size"/> bytes of hole.</summary>
    internal static byte[] PaxSparse01(long size) => new TarBlocks()
        .Pax(TarBlocks.PaxRecords(("GNU.sparse.major", TarBlocks.Utf8("0")), ("GNU.sparse.minor", TarBlocks.Utf8("1")), ("GNU.sparse.name", TarBlocks.Utf8("bomb")),
            ("GNU.sparse.size", TarBlocks.Utf8($"{size}")), ("GNU.sparse.map", TarBlocks.Utf8($"{size - 512},512"))))
        .File("GNUSparseFile.0/bomb", SparseData).End().ToArray();

    /// <summary>A PAX 1.0 sparse file: the map at the start of the data, then 512 bytes at the end of the hole.</summary>
    private static byte[] PaxSparse10(long size)
    {
        byte[] data = new byte[1024];
        Encoding.ASCII.GetBytes($"1\n{size - 512}\n512\n").CopyTo(data, 0);
        SparseData.CopyTo(data, 512);
        return new TarBlocks()
            .Pax(TarBlocks.PaxRecords(("GNU.sparse.major", TarBlocks.Utf8("1")), ("GNU.sparse.minor", TarBlocks.Utf8("0")), ("GNU.sparse.name", TarBlocks.Utf8("bomb")), ("GNU.sparse.realsize", TarBlocks.Utf8($"{size}"))))
            .File("GNUSparseFile.0/bomb", data).End().ToArray();
    }

    /// <summary>An old-GNU 'S' sparse file with base-256 real size; 512 bytes of data at its start.</summary>
    private static byte[] OldGnuSparse(long size, bool twice = false)
    {
        var tar = new TarBlocks();
        foreach (string name in twice ? new[] { "bomb1", "bomb2" } : ["bomb"])
        {
            tar.Add(TarBlocks.Header(name, 'S', 512, magic: "ustar ", version: " \0", edit: b =>
            {
                TarBlocks.Octal(b, 386, 12, 0);
                TarBlocks.Octal(b, 398, 12, 512);
                TarBlocks.Base256(b, 483, 12, size);
            }), SparseData);
        }
        return tar.End().ToArray();
    }

    private static byte[] OneHeader(byte[] header) => new TarBlocks().Add(header).End().ToArray();

    private static LayerTar Chain(int length)
    {
        var tar = new LayerTar().Dir("end");
        for (int i = 0; i < length; i++)
        {
            tar.Symlink($"s{i}", i == length - 1 ? "end" : $"s{i + 1}");
        }
        return tar;
    }

    private static PaxTarEntry Pax(TarEntryType type, string name, string content, params (string Key, string Value)[] extra)
    {
        var entry = new PaxTarEntry(type, name, extra.ToDictionary(e => e.Key, e => e.Value))
        {
            Mode = (UnixFileMode)0b110_100_100,
            ModificationTime = LayerTar.DefaultTime,
            DataStream = new MemoryStream(Encoding.UTF8.GetBytes(content)),
        };
        return entry;
    }

    private static byte[] Raw(Action<TarWriter> write, TarEntryFormat format = TarEntryFormat.Pax)
    {
        using var buffer = new MemoryStream();
        using (var writer = new TarWriter(buffer, format, leaveOpen: true))
        {
            write(writer);
        }
        return buffer.ToArray();
    }

    private static byte[] RandomBytes(int count)
    {
        var random = new Random(1234);
        byte[] bytes = new byte[count];
        random.NextBytes(bytes);
        bytes[0] = 0x42; // not a gzip or zstd magic
        return bytes;
    }

    private static byte[] CorruptChecksum(byte[] tar)
    {
        // The PAX record comes first; corrupt the first header's checksum field.
        tar[148] = (byte)(tar[148] == (byte)'1' ? '2' : '1');
        return tar;
    }

    /// <summary>A small gzip that unpacks to 512 MiB of one file's zeros: far beyond the 64 MiB limit the test sets.</summary>
    private static byte[] Bomb()
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.SmallestSize, leaveOpen: true))
        {
            var header = Raw(w => w.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "zeros") { DataStream = new MemoryStream([]) }));
            // Patch the size field of the (only) ustar header to 512 MiB, recompute the checksum.
            long size = 512L << 20;
            int start = header.Length - 1024 - 512;
            Encoding.ASCII.GetBytes(Convert.ToString(size, 8).PadLeft(11, '0') + "\0").CopyTo(header, start + 124);
            Encoding.ASCII.GetBytes("        ").CopyTo(header, start + 148);
            int sum = header.AsSpan(start, 512).ToArray().Sum(b => b);
            Encoding.ASCII.GetBytes(Convert.ToString(sum, 8).PadLeft(6, '0') + "\0 ").CopyTo(header, start + 148);
            gzip.Write(header, 0, start + 512);
            byte[] zeros = new byte[1 << 20];
            for (int i = 0; i < 512; i++)
            {
                gzip.Write(zeros);
            }
            gzip.Write(new byte[1024]);
        }
        return output.ToArray();
    }
}
