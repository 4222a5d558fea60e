using Decant.Model;
using Decant.Tests.Layers;

namespace Decant.Tests.Names;

/// <summary>
/// Two hand-made layers whose names, link targets and xattr names hold bytes that are not UTF-8
/// (lone high bytes, 0xFF beside the UTF-8 spelling of U+00FF, an overlong '/', an encoded
/// surrogate), carried by every header form a tar has: a ustar name, a ustar prefix and name, GNU
/// long name and long link records, and PAX <c>path</c>/<c>linkpath</c> with and without
/// <c>hdrcharset=BINARY</c>. The second layer whites out and opaques raw names. Every directory is
/// listed, so umoci's one quirk with unlisted parents cannot show.
/// </summary>
internal static class RawNameLayers
{
    private const int DirectoryMode = 0b111_101_101;

    /// <summary>A name spelled as text with raw bytes mixed in: <c>Name("latin1-", 0xE9)</c>.</summary>
    public static string Name(params object[] parts)
    {
        var bytes = new List<byte>();
        foreach (var part in parts)
        {
            switch (part)
            {
                case string text:
                    bytes.AddRange(System.Text.Encoding.UTF8.GetBytes(text));
                    break;
                case int value:
                    bytes.Add((byte)value);
                    break;
                case byte[] raw:
                    bytes.AddRange(raw);
                    break;
                default:
                    throw new ArgumentException($"unexpected part {part}");
            }
        }
        return NameBytes.Decode(bytes.ToArray());
    }

    public static readonly string Latin1 = Name("names/latin1-", 0xE9, "-invalid-utf8.bin");
    public static readonly string LoneFF = Name("names/", 0xFF);
    public static readonly string Utf8OfFF = Name("names/", 0xC3, 0xBF);
    public static readonly string Overlong = Name("names/overlong-", 0xC0, 0xAF);
    public static readonly string Surrogate = Name("names/surrogate-", 0xED, 0xA0, 0x80);
    public static readonly string RawDirectory = Name("names/dir-", 0xE9);
    public static readonly string PrefixDirectory = Name("names/prefix-", 0xFE, new string('p', 80));
    public static readonly string PrefixFile = Name("file-", 0xE9, "-", new string('n', 60));
    public static readonly string GnuDirectory = Name("names/gnu-", 0xE9, "-", new string('g', 120));
    public static readonly string GnuFile = GnuDirectory + "/" + Name("leaf-", 0xFF, "-", new string('h', 150));
    public static readonly string PaxBinary = Name("names/pax-binary-", 0xE9, "-", new string('b', 120));
    public static readonly string PaxRaw = Name("names/pax-raw-", 0xFF, "-", new string('r', 120));
    public static readonly string PaxLinkTarget = Name("../names/", 0xFF, "/", new string('q', 110));
    public static readonly string ShortLinkTarget = Name("latin1-", 0xE9, "-invalid-utf8.bin");
    public static readonly string XattrName = Name("user.raw-", 0xE9);
    public static readonly byte[] XattrValue = [(byte)'v', 0xE9, 0xFF];
    public static readonly string HtreeDirectory = "names/htree";

    /// <summary>How many names the big directory holds: enough for an ext4 htree (its own name is plain, so debugfs can be told it).</summary>
    public const int HtreeEntries = 400;

    public static byte[] Base()
    {
        var tar = new TarBlocks()
            .Add(TarBlocks.Header("./", '5', mode: DirectoryMode, uid: 0, gid: 0))
            .Add(TarBlocks.Header("names/", '5', mode: DirectoryMode));
        File(tar, Latin1);
        File(tar, LoneFF);
        File(tar, Utf8OfFF);
        File(tar, Overlong);
        File(tar, Surrogate);
        tar.Add(TarBlocks.Header(RawDirectory + "/", '5', mode: DirectoryMode));
        File(tar, RawDirectory + "/inner");
        // ustar prefix + name: the split falls between two raw-byte components.
        tar.Add(TarBlocks.Header(PrefixDirectory + "/", '5', mode: DirectoryMode));
        byte[] content = Content(PrefixDirectory + "/" + PrefixFile);
        tar.Add(TarBlocks.Header(PrefixFile, '0', content.Length, prefix: PrefixDirectory), content);
        // GNU long name ('L') for a directory and a file whose path is over 255 bytes, long link ('K') for a hardlink to it.
        GnuLong(tar, 'L', GnuDirectory + "/");
        tar.Add(TarBlocks.Header(Truncated(GnuDirectory), '5', mode: DirectoryMode, magic: "ustar ", version: " \0"));
        content = Content(GnuFile);
        GnuLong(tar, 'L', GnuFile);
        tar.Add(TarBlocks.Header(Truncated(GnuFile), '0', content.Length, magic: "ustar ", version: " \0"), content);
        GnuLong(tar, 'K', GnuFile);
        tar.Add(TarBlocks.Header("names/gnu-hardlink", '1', linkName: Truncated(GnuFile), magic: "ustar ", version: " \0"));
        // PAX path with hdrcharset=BINARY, PAX path with raw bytes and no hdrcharset, PAX linkpath.
        content = Content(PaxBinary);
        tar.Pax(TarBlocks.PaxRecords(("hdrcharset", TarBlocks.Utf8("BINARY")), ("path", NameBytes.GetBytes(PaxBinary))));
        tar.Add(TarBlocks.Header("placeholder-binary", '0', content.Length), content);
        content = Content(PaxRaw);
        tar.Pax(TarBlocks.PaxRecords(("path", NameBytes.GetBytes(PaxRaw))));
        tar.Add(TarBlocks.Header("placeholder-raw", '0', content.Length), content);
        tar.Pax(TarBlocks.PaxRecords(("linkpath", NameBytes.GetBytes(PaxLinkTarget))));
        tar.Add(TarBlocks.Header("names/pax-link", '2', linkName: "placeholder-target", mode: 0b111_111_111));
        // ustar symlink and hardlink with raw bytes in the link name.
        tar.Add(TarBlocks.Header(Name("names/link-", 0xE9), '2', linkName: ShortLinkTarget, mode: 0b111_111_111));
        tar.Add(TarBlocks.Header(Name("names/hardlink-", 0xE9), '1', linkName: Latin1));
        // An xattr whose name and value are not UTF-8.
        content = Content("names/xattr-file");
        tar.Pax(TarBlocks.PaxRecords(("SCHILY.xattr." + XattrName, XattrValue)));
        tar.Add(TarBlocks.Header("names/xattr-file", '0', content.Length), content);
        // A directory big enough for an ext4 htree, every name holding raw bytes.
        tar.Add(TarBlocks.Header(HtreeDirectory + "/", '5', mode: DirectoryMode));
        for (int i = 0; i < HtreeEntries; i++)
        {
            File(tar, HtreeEntry(i));
        }
        return tar.End().ToArray();
    }

    public static string HtreeEntry(int i) => HtreeDirectory + "/" + Name($"entry-{i:D4}-", 0x80 + (i % 0x80), 0xFF - (i % 0x40));

    /// <summary>Whiteouts and an opaque directory over raw names.</summary>
    public static byte[] Upper()
    {
        var tar = new TarBlocks();
        File(tar, "names/.wh." + Utf8OfFF[("names/".Length)..]);
        File(tar, "names/.wh." + Surrogate[("names/".Length)..]);
        tar.Add(TarBlocks.Header(RawDirectory + "/", '5', mode: DirectoryMode));
        File(tar, RawDirectory + "/.wh..wh..opq");
        File(tar, RawDirectory + "/" + Name("new-", 0xFF));
        return tar.End().ToArray();
    }

    /// <summary>The paths the merged tree must hold, and those the upper layer removed.</summary>
    public static IEnumerable<string> Present =>
    [
        Latin1, LoneFF, Overlong, RawDirectory + "/" + Name("new-", 0xFF), PrefixDirectory + "/" + PrefixFile,
        GnuFile, "names/gnu-hardlink", PaxBinary, PaxRaw, "names/pax-link", Name("names/link-", 0xE9), Name("names/hardlink-", 0xE9),
    ];

    public static IEnumerable<string> Removed => [Utf8OfFF, Surrogate, RawDirectory + "/inner"];

    private static void File(TarBlocks tar, string name)
    {
        byte[] content = Content(name);
        if (NameBytes.GetByteCount(name) <= 100)
        {
            tar.Add(TarBlocks.Header(name, '0', content.Length), content);
            return;
        }
        tar.Pax(TarBlocks.PaxRecords(("path", NameBytes.GetBytes(name))));
        tar.Add(TarBlocks.Header("placeholder", '0', content.Length), content);
    }

    /// <summary>Each file holds its own name's bytes, so a file that came out under another name shows.</summary>
    private static byte[] Content(string name) => NameBytes.GetBytes(name + "\n");

    private static void GnuLong(TarBlocks tar, char type, string name)
    {
        byte[] bytes = [.. NameBytes.GetBytes(name), 0];
        tar.Add(TarBlocks.Header("././@LongLink", type, bytes.Length, magic: "ustar ", version: " \0"), bytes);
    }

    /// <summary>The first 100 bytes of a name, as a GNU header's name field holds it.</summary>
    private static string Truncated(string name) => NameBytes.Decode(NameBytes.GetBytes(name).AsSpan(0, Math.Min(100, NameBytes.GetByteCount(name))));
}
