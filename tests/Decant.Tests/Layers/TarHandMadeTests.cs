using System.Security.Cryptography;
using System.Text;
using Decant.Layers;
using Decant.Model;

namespace Decant.Tests.Layers;

/// <summary>Builds tar archives byte by byte, for edge cases no real tool produces on demand.</summary>
internal sealed class TarBlocks
{
    private readonly List<byte> _archive = [];

    public static byte[] Header(string name, char type = '0', long size = 0, string magic = "ustar\0", string version = "00",
        string linkName = "", string prefix = "", int mode = 420, long uid = 1000, long gid = 1000, long mtime = 1_600_000_000,
        Action<byte[]>? edit = null)
    {
        byte[] block = new byte[512];
        // Names are byte strings: a test spells raw bytes in their NameBytes form ("\uDCE9" is 0xE9).
        NameBytes.GetBytes(name).AsSpan().CopyTo(block);
        Octal(block, 100, 8, mode);
        Octal(block, 108, 8, uid);
        Octal(block, 116, 8, gid);
        Octal(block, 124, 12, size);
        Octal(block, 136, 12, mtime);
        block[156] = (byte)type;
        NameBytes.GetBytes(linkName).CopyTo(block, 157);
        Encoding.ASCII.GetBytes(magic).CopyTo(block, 257);
        Encoding.ASCII.GetBytes(version).CopyTo(block, 263);
        if (magic.StartsWith("ustar", StringComparison.Ordinal))
        {
            "user"u8.CopyTo(block.AsSpan(265));
            "group"u8.CopyTo(block.AsSpan(297));
        }
        NameBytes.GetBytes(prefix).CopyTo(block, 345);
        edit?.Invoke(block);
        SetChecksum(block);
        return block;
    }

    public static void Octal(byte[] block, int offset, int length, long value)
    {
        string digits = Convert.ToString(value, 8).PadLeft(length - 1, '0');
        Encoding.ASCII.GetBytes(digits).CopyTo(block, offset);
        block[offset + length - 1] = 0;
    }

    /// <summary>Writes a GNU base-256 number (two's complement, high bit of the first byte set).</summary>
    public static void Base256(byte[] block, int offset, int length, long value)
    {
        for (int i = length - 1; i >= 0; i--)
        {
            block[offset + i] = (byte)value;
            value >>= 8;
        }
        block[offset] |= 0x80;
    }

    public static void SetChecksum(byte[] block)
    {
        block.AsSpan(148, 8).Fill((byte)' ');
        int sum = block.Sum(b => b);
        Encoding.ASCII.GetBytes(Convert.ToString(sum, 8).PadLeft(6, '0')).CopyTo(block, 148);
        block[154] = 0;
        block[155] = (byte)' ';
    }

    public static byte[] PaxRecords(params (string Key, byte[] Value)[] records)
    {
        var output = new MemoryStream();
        foreach (var (key, value) in records)
        {
            byte[] keyBytes = NameBytes.GetBytes(key);
            int body = 1 + keyBytes.Length + 1 + value.Length + 1;
            int length = body + 1;
            while (length.ToString(System.Globalization.CultureInfo.InvariantCulture).Length + body != length)
            {
                length++;
            }
            output.Write(Encoding.ASCII.GetBytes(length.ToString(System.Globalization.CultureInfo.InvariantCulture) + " "));
            output.Write(keyBytes);
            output.WriteByte((byte)'=');
            output.Write(value);
            output.WriteByte((byte)'\n');
        }
        return output.ToArray();
    }

    public static byte[] Utf8(string text) => Encoding.UTF8.GetBytes(text);

    public TarBlocks Add(byte[] header, byte[]? data = null)
    {
        _archive.AddRange(header);
        if (data is not null)
        {
            _archive.AddRange(data);
            _archive.AddRange(new byte[(512 - data.Length % 512) % 512]);
        }
        return this;
    }

    public TarBlocks File(string name, byte[] data) => Add(Header(name, '0', data.Length), data);

    public TarBlocks Pax(byte[] records, char type = 'x') => Add(Header("PaxHeaders/x", type, records.Length), records);

    public TarBlocks Raw(byte[] bytes)
    {
        _archive.AddRange(bytes);
        return this;
    }

    public TarBlocks End() => Raw(new byte[1024]);

    public byte[] ToArray() => _archive.ToArray();

    public static async Task<List<(TarHeader Header, byte[] Data)>> ReadAllAsync(byte[] archive, TarReaderLimits? limits = null)
    {
        var reader = new LayerTarReader(new MemoryStream(archive), limits);
        var entries = new List<(TarHeader, byte[])>();
        while (await reader.ReadNextAsync(CancellationToken.None) is { } header)
        {
            using var data = new MemoryStream();
            await reader.OpenData().CopyToAsync(data);
            entries.Add((header, data.ToArray()));
        }
        await reader.DrainAsync(CancellationToken.None);
        Assert.Equal(archive.Length, reader.BytesRead);
        return entries;
    }

    public static async Task<DecantException> ReadFailureAsync(byte[] archive, TarReaderLimits? limits = null) =>
        await Assert.ThrowsAsync<DecantException>(() => ReadAllAsync(archive, limits));
}

public class TarHandMadeTests
{
    private static readonly byte[] Hello = "hello, world\n"u8.ToArray();

    [Fact]
    public async Task ReadsUstarEntriesOfEveryKind()
    {
        byte[] archive = new TarBlocks()
            .Add(TarBlocks.Header("dir/", '5', mode: 0x1ED))
            .File("dir/file", Hello)
            .Add(TarBlocks.Header("dir/link", '2', linkName: "file"))
            .Add(TarBlocks.Header("dir/hard", '1', linkName: "dir/file"))
            .Add(TarBlocks.Header("dev/null", '3', edit: b => { TarBlocks.Octal(b, 329, 8, 1); TarBlocks.Octal(b, 337, 8, 3); }))
            .Add(TarBlocks.Header("dev/sda", '4', edit: b => { TarBlocks.Octal(b, 329, 8, 8); TarBlocks.Octal(b, 337, 8, 0); }))
            .Add(TarBlocks.Header("pipe", '6'))
            .Add(TarBlocks.Header("contiguous", '7', Hello.Length), Hello)
            .End().ToArray();

        var entries = await TarBlocks.ReadAllAsync(archive);

        Assert.Equal(
            ["Directory dir/", "RegularFile dir/file", "Symlink dir/link", "Hardlink dir/hard", "CharDevice dev/null", "BlockDevice dev/sda", "Fifo pipe", "RegularFile contiguous"],
            entries.Select(e => e.Header.ToString()));
        Assert.Equal(Hello, entries[1].Data);
        Assert.Equal(Hello.Length, entries[1].Header.Size);
        Assert.Equal(0x1EDu, entries[0].Header.Mode);
        Assert.Equal("file", entries[2].Header.LinkName);
        Assert.Equal("dir/file", entries[3].Header.LinkName);
        Assert.Equal((1u, 3u), (entries[4].Header.DeviceMajor, entries[4].Header.DeviceMinor));
        Assert.Equal((8u, 0u), (entries[5].Header.DeviceMajor, entries[5].Header.DeviceMinor));
        Assert.Equal(Hello, entries[7].Data);
        Assert.Equal(("user", "group", 1000L, 1000L), (entries[1].Header.UserName, entries[1].Header.GroupName, entries[1].Header.Uid, entries[1].Header.Gid));
        Assert.Equal(new Timestamp(1_600_000_000, 0), entries[1].Header.ModificationTime);
    }

    [Fact]
    public async Task JoinsTheUstarPrefixAndName()
    {
        byte[] archive = new TarBlocks().Add(TarBlocks.Header("name.txt", '0', prefix: "some/long/prefix")).End().ToArray();

        var entries = await TarBlocks.ReadAllAsync(archive);

        Assert.Equal("some/long/prefix/name.txt", Assert.Single(entries).Header.Name);
    }

    [Fact]
    public async Task OldTypeFlagNulIsADirectoryOnlyWhenTheNameEndsInASlash()
    {
        byte[] archive = new TarBlocks()
            .Add(TarBlocks.Header("olddir/", '\0', magic: "", version: ""))
            .Add(TarBlocks.Header("oldfile", '\0', Hello.Length, magic: "", version: ""), Hello)
            .End().ToArray();

        var entries = await TarBlocks.ReadAllAsync(archive);

        Assert.Equal(TarEntryKind.Directory, entries[0].Header.Kind);
        Assert.Equal(TarEntryKind.RegularFile, entries[1].Header.Kind);
        Assert.Equal(Hello, entries[1].Data);
        Assert.Null(entries[1].Header.UserName);
    }

    [Fact]
    public async Task ReadsGnuBase256SizeUidAndNegativeTime()
    {
        byte[] data = new byte[1500];
        new Random(7).NextBytes(data);
        byte[] header = TarBlocks.Header("big", '0', magic: "ustar ", version: " \0", edit: b =>
        {
            TarBlocks.Base256(b, 124, 12, data.Length);
            TarBlocks.Base256(b, 108, 8, 3_000_000_000);
            TarBlocks.Base256(b, 136, 12, -86_400);
        });
        byte[] archive = new TarBlocks().Add(header, data).End().ToArray();

        var (entry, content) = Assert.Single(await TarBlocks.ReadAllAsync(archive));

        Assert.Equal(data, content);
        Assert.Equal(3_000_000_000, entry.Uid);
        Assert.Equal(new Timestamp(-86_400, 0), entry.ModificationTime);
    }

    [Fact]
    public async Task ToleratesSpacesAndNulsInOctalFieldsAndASignedChecksum()
    {
        byte[] header = TarBlocks.Header("ok", '0', edit: b =>
        {
            "   644 \0"u8.CopyTo(b.AsSpan(100));
            "\0\0\0\0\0\0\0\0"u8.CopyTo(b.AsSpan(108));
            "15 \0\0\0\0\0\0\0\0\0"u8.CopyTo(b.AsSpan(124));
            b[300] = 0xE9; // a high byte makes the signed and unsigned sums differ
        });
        // Replace the checksum with the signed sum some old tars wrote.
        header.AsSpan(148, 8).Fill((byte)' ');
        int signedSum = header.Sum(b => (int)(sbyte)b);
        Encoding.ASCII.GetBytes(Convert.ToString(signedSum, 8).PadLeft(6, '0') + "\0 ").CopyTo(header, 148);
        byte[] archive = new TarBlocks().Add(header, new byte[13]).End().ToArray();

        var (entry, content) = Assert.Single(await TarBlocks.ReadAllAsync(archive));

        Assert.Equal(0x1A4u, entry.Mode);
        Assert.Equal(0, entry.Uid);
        Assert.Equal(13, entry.Size);
        Assert.Equal(13, content.Length);
    }

    [Fact]
    public async Task BadChecksumNamesTheHeaderOffset()
    {
        byte[] second = TarBlocks.Header("second", '0');
        second[0] ^= 1;
        byte[] archive = new TarBlocks().File("first", Hello).Add(second).End().ToArray();

        var error = await TarBlocks.ReadFailureAsync(archive);

        Assert.Equal(DecantErrorKind.InvalidLayer, error.Kind);
        Assert.Contains("checksum", error.Message, StringComparison.Ordinal);
        Assert.Contains("byte offset 1024", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TruncatedHeaderIsReported()
    {
        byte[] archive = new TarBlocks().File("first", Hello).Add(TarBlocks.Header("second"))
            .ToArray()[..(1024 + 300)];

        var error = await TarBlocks.ReadFailureAsync(archive);

        Assert.Equal(DecantErrorKind.InvalidLayer, error.Kind);
        Assert.Contains("truncated", error.Message, StringComparison.Ordinal);
        Assert.Contains("byte offset 1024", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(512 + 700)] // in the middle of the data
    [InlineData(512 + 999)] // one byte short
    public async Task TruncatedDataIsReportedWithTheEntry(int cut)
    {
        byte[] archive = new TarBlocks().File("victim", new byte[1000]).End().ToArray()[..cut];

        var error = await TarBlocks.ReadFailureAsync(archive);

        Assert.Equal(DecantErrorKind.InvalidLayer, error.Kind);
        Assert.Contains("truncated", error.Message, StringComparison.Ordinal);
        Assert.Equal("victim", error.Entry);
    }

    [Theory]
    [InlineData(512 + 1000)] // right after the data, as `umoci insert` (0.4.7) writes it
    [InlineData(512 + 1000 + 10)] // inside the padding
    public async Task AnArchiveEndingAfterTheLastEntrysWholeDataIsComplete(int cut)
    {
        byte[] archive = new TarBlocks().File("a", Hello).File("last", new byte[1000]).End().ToArray()[..(512 + 512 + cut)];

        var entries = await TarBlocks.ReadAllAsync(archive);

        Assert.Equal(["a", "last"], entries.Select(e => e.Header.Name));
        Assert.Equal(1000, entries[1].Data.Length);
    }

    [Fact]
    public async Task TruncatedDataIsReportedWhenTheEntryIsSkipped()
    {
        byte[] archive = new TarBlocks().File("victim", new byte[5000]).ToArray()[..3000];
        var reader = new LayerTarReader(new MemoryStream(archive));
        Assert.NotNull(await reader.ReadNextAsync(CancellationToken.None));

        var error = await Assert.ThrowsAsync<DecantException>(async () => await reader.ReadNextAsync(CancellationToken.None));

        Assert.Contains("truncated", error.Message, StringComparison.Ordinal);
        Assert.Equal("victim", error.Entry);
    }

    [Fact]
    public async Task MissingEndBlocksAndALoneZeroBlockAreTolerated()
    {
        byte[] noEnd = new TarBlocks().File("a", Hello).ToArray();
        byte[] loneZero = new TarBlocks().File("a", Hello).Raw(new byte[512]).ToArray();

        Assert.Single(await TarBlocks.ReadAllAsync(noEnd));
        Assert.Single(await TarBlocks.ReadAllAsync(loneZero));
    }

    [Fact]
    public async Task AZeroBlockFollowedByAHeaderIsAnError()
    {
        byte[] archive = new TarBlocks().File("a", Hello).Raw(new byte[512]).File("hidden", Hello).End().ToArray();

        var error = await TarBlocks.ReadFailureAsync(archive);

        Assert.Equal(DecantErrorKind.InvalidLayer, error.Kind);
        Assert.Contains("zero block at byte offset 1024", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DrainReadsTrailingBytesAfterTheEndMarker()
    {
        byte[] archive = new TarBlocks().File("a", Hello).End().Raw(new byte[10240]).Raw([1, 2, 3]).ToArray();
        var reader = new LayerTarReader(new MemoryStream(archive));

        Assert.NotNull(await reader.ReadNextAsync(CancellationToken.None));
        Assert.Null(await reader.ReadNextAsync(CancellationToken.None));
        await reader.DrainAsync(CancellationToken.None);

        Assert.Equal(archive.Length, reader.BytesRead);
        Assert.Null(await reader.ReadNextAsync(CancellationToken.None));
    }

    [Fact]
    public async Task UnknownTypeNamesTheEntryAndTypeByte()
    {
        byte[] archive = new TarBlocks().Add(TarBlocks.Header("label", 'V')).End().ToArray();

        var error = await TarBlocks.ReadFailureAsync(archive);

        Assert.Equal(DecantErrorKind.InvalidLayer, error.Kind);
        Assert.Equal("label", error.Entry);
        Assert.Contains("'V' (0x56)", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GlobalHeadersAreIgnored()
    {
        byte[] global = TarBlocks.PaxRecords(("path", TarBlocks.Utf8("global-name")), ("mtime", TarBlocks.Utf8("1")));
        byte[] archive = new TarBlocks().Pax(global, 'g').File("plain", Hello).End().ToArray();

        var (entry, content) = Assert.Single(await TarBlocks.ReadAllAsync(archive));

        Assert.Equal("plain", entry.Name);
        Assert.Equal(new Timestamp(1_600_000_000, 0), entry.ModificationTime);
        Assert.Equal(Hello, content);
    }

    [Fact]
    public async Task PaxRecordsOverrideTheHeader()
    {
        string longName = string.Join('/', Enumerable.Repeat("déjà-vu", 60));
        byte[] records = TarBlocks.PaxRecords(
            ("path", TarBlocks.Utf8(longName)),
            ("uid", TarBlocks.Utf8("3000000000")),
            ("gid", TarBlocks.Utf8("42")),
            ("uname", TarBlocks.Utf8("ünïcode")),
            ("gname", TarBlocks.Utf8("staff")),
            ("mtime", TarBlocks.Utf8("1700000000.123456789123")),
            ("atime", TarBlocks.Utf8("-1.25")),
            ("comment", TarBlocks.Utf8("ignored")),
            ("size", TarBlocks.Utf8("13")));
        byte[] archive = new TarBlocks().Pax(records).Add(TarBlocks.Header("short", '0', size: 0), Hello).End().ToArray();

        var (entry, content) = Assert.Single(await TarBlocks.ReadAllAsync(archive));

        Assert.Equal(longName, entry.Name);
        Assert.Equal(3_000_000_000, entry.Uid);
        Assert.Equal(42, entry.Gid);
        Assert.Equal(("ünïcode", "staff"), (entry.UserName, entry.GroupName));
        Assert.Equal(new Timestamp(1_700_000_000, 123_456_789), entry.ModificationTime);
        Assert.Equal(new Timestamp(-2, 750_000_000), entry.AccessTime);
        Assert.Equal(Hello, content);
    }

    [Fact]
    public async Task PaxLinkPathOverridesTheLinkName()
    {
        string target = new('t', 300);
        byte[] archive = new TarBlocks().Pax(TarBlocks.PaxRecords(("linkpath", TarBlocks.Utf8(target))))
            .Add(TarBlocks.Header("link", '2', linkName: "short")).End().ToArray();

        var (entry, _) = Assert.Single(await TarBlocks.ReadAllAsync(archive));

        Assert.Equal(target, entry.LinkName);
    }

    [Fact]
    public async Task XattrValuesKeepTheirRawBytes()
    {
        byte[] binary = [0, 1, 2, (byte)'\n', 0xFF, 0xC3, (byte)'=', 0];
        byte[] records = TarBlocks.PaxRecords(
            ("SCHILY.xattr.security.capability", binary),
            ("SCHILY.xattr.user.empty", []),
            ("LIBARCHIVE.xattr.user.b64%20name", TarBlocks.Utf8(Convert.ToBase64String([9, 8, 7, 6]).TrimEnd('='))));
        byte[] archive = new TarBlocks().Pax(records).File("f", Hello).End().ToArray();

        var (entry, _) = Assert.Single(await TarBlocks.ReadAllAsync(archive));

        Assert.Equal(["security.capability", "user.empty", "user.b64 name"], entry.Xattrs.Select(x => x.Key));
        Assert.Equal(binary, entry.Xattrs[0].Value);
        Assert.Empty(entry.Xattrs[1].Value);
        Assert.Equal([9, 8, 7, 6], entry.Xattrs[2].Value);
    }

    [Fact]
    public async Task PaxHeaderOverTheLimitIsRefusedWithoutReadingIt()
    {
        byte[] records = TarBlocks.PaxRecords(("comment", new byte[2 * 1024 * 1024]));
        byte[] archive = new TarBlocks().Pax(records).File("f", Hello).End().ToArray();

        var error = await TarBlocks.ReadFailureAsync(archive);

        Assert.Equal(DecantErrorKind.LimitExceeded, error.Kind);
        Assert.Contains(nameof(TarReaderLimits.MaxPaxHeaderBytes), error.Message, StringComparison.Ordinal);
        Assert.Equal("PaxHeaders/x", error.Entry);
    }

    [Fact]
    public async Task ManySmallPaxHeadersCountTogetherAgainstTheLimit()
    {
        var blocks = new TarBlocks();
        for (int i = 0; i < 10; i++)
        {
            blocks.Pax(TarBlocks.PaxRecords(($"key{i}", new byte[200])));
        }
        byte[] archive = blocks.File("f", Hello).End().ToArray();

        var error = await TarBlocks.ReadFailureAsync(archive, new TarReaderLimits { MaxPaxHeaderBytes = 1000 });

        Assert.Equal(DecantErrorKind.LimitExceeded, error.Kind);
        Assert.Single(await TarBlocks.ReadAllAsync(archive));
    }

    [Fact]
    public async Task XattrsOverTheLimitAreRefused()
    {
        byte[] records = TarBlocks.PaxRecords(("SCHILY.xattr.user.a", new byte[600]), ("SCHILY.xattr.user.b", new byte[600]));
        byte[] archive = new TarBlocks().Pax(records).File("f", Hello).End().ToArray();

        var error = await TarBlocks.ReadFailureAsync(archive, new TarReaderLimits { MaxXattrBytesPerEntry = 1000 });

        Assert.Equal(DecantErrorKind.LimitExceeded, error.Kind);
        Assert.Contains(nameof(TarReaderLimits.MaxXattrBytesPerEntry), error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MalformedPaxRecordIsInvalid()
    {
        byte[] archive = new TarBlocks().Pax("99 path=x\n"u8.ToArray()).File("f", Hello).End().ToArray();

        var error = await TarBlocks.ReadFailureAsync(archive);

        Assert.Equal(DecantErrorKind.InvalidLayer, error.Kind);
        Assert.Contains("malformed record", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GnuLongNameAndLinkNameApplyToTheNextEntry()
    {
        string longName = new string('n', 150) + "/" + new string('m', 150);
        string longLink = new('l', 200);
        byte[] archive = new TarBlocks()
            .Add(TarBlocks.Header("././@LongLink", 'L', longName.Length + 1, magic: "ustar ", version: " \0"), TarBlocks.Utf8(longName + "\0"))
            .Add(TarBlocks.Header("././@LongLink", 'K', longLink.Length + 1, magic: "ustar ", version: " \0"), TarBlocks.Utf8(longLink + "\0"))
            .Add(TarBlocks.Header("truncated", '2', magic: "ustar ", version: " \0"))
            .Add(TarBlocks.Header("next", '0', magic: "ustar ", version: " \0"))
            .End().ToArray();

        var entries = await TarBlocks.ReadAllAsync(archive);

        Assert.Equal((longName, longLink), (entries[0].Header.Name, entries[0].Header.LinkName));
        Assert.Equal(("next", ""), (entries[1].Header.Name, entries[1].Header.LinkName));
    }

    [Fact]
    public async Task LongNameOverTheLimitIsRefused()
    {
        byte[] archive = new TarBlocks().Add(TarBlocks.Header("././@LongLink", 'L', 5000), new byte[5000]).File("f", Hello).End().ToArray();

        var error = await TarBlocks.ReadFailureAsync(archive, new TarReaderLimits { MaxLongNameBytes = 4096 });

        Assert.Equal(DecantErrorKind.LimitExceeded, error.Kind);
        Assert.Contains(nameof(TarReaderLimits.MaxLongNameBytes), error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ArchiveEndingAfterAnExtendedHeaderIsTruncated()
    {
        byte[] archive = new TarBlocks().Pax(TarBlocks.PaxRecords(("path", TarBlocks.Utf8("x")))).ToArray();

        var error = await TarBlocks.ReadFailureAsync(archive);

        Assert.Contains("truncated", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task InvalidUtf8NamesAreKeptAsBytes()
    {
        byte[] header = TarBlocks.Header("x", '0', edit: b => new byte[] { (byte)'c', 0xE9, (byte)'t', 0xE9, 0 }.CopyTo(b, 0));
        byte[] archive = new TarBlocks().Add(header).End().ToArray();

        var (entry, _) = Assert.Single(await TarBlocks.ReadAllAsync(archive));

        Assert.Equal(new byte[] { (byte)'c', 0xE9, (byte)'t', 0xE9 }, NameBytes.GetBytes(entry.Name));
        Assert.NotEqual("c\u00E9t\u00E9", entry.Name); // not the UTF-8 name "cété", which is other bytes
        Assert.Equal(@"c\xE9t\xE9", NameBytes.Escape(entry.Name));
    }

    [Fact]
    public async Task UnreadDataIsSkippedAndStaleStreamsRefuseToRead()
    {
        byte[] first = new byte[100_000];
        new Random(3).NextBytes(first);
        byte[] archive = new TarBlocks().File("first", first).File("second", Hello).End().ToArray();
        var reader = new LayerTarReader(new MemoryStream(archive));

        await reader.ReadNextAsync(CancellationToken.None);
        var firstData = reader.OpenData();
        byte[] partial = new byte[10];
        await firstData.ReadExactlyAsync(partial);
        Assert.Equal(first[..10], partial);
        var second = await reader.ReadNextAsync(CancellationToken.None);
        using var content = new MemoryStream();
        await reader.OpenData().CopyToAsync(content);

        Assert.Equal("second", second!.Name);
        Assert.Equal(Hello, content.ToArray());
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await firstData.ReadExactlyAsync(partial));
    }

    [Fact]
    public async Task SynchronousAndSmallReadsSeeTheSameContent()
    {
        byte[] data = new byte[70_000];
        new Random(5).NextBytes(data);
        byte[] archive = new TarBlocks().File("f", data).End().ToArray();
        var reader = new LayerTarReader(new MemoryStream(archive));
        await reader.ReadNextAsync(CancellationToken.None);
        using var stream = reader.OpenData();
        var copy = new MemoryStream();
        byte[] small = new byte[7];
        int read;
        while ((read = stream.Read(small, 0, small.Length)) > 0)
        {
            copy.Write(small, 0, read);
        }

        Assert.Equal(data.Length, stream.Length);
        Assert.Equal(SHA256.HashData(data), SHA256.HashData(copy.ToArray()));
    }

    [Fact]
    public async Task PaxSparse01MapIsExpandedWithHoles()
    {
        byte[] stored = [.. Enumerable.Repeat((byte)'A', 10), .. Enumerable.Repeat((byte)'B', 5)];
        byte[] records = TarBlocks.PaxRecords(
            ("GNU.sparse.major", TarBlocks.Utf8("0")),
            ("GNU.sparse.minor", TarBlocks.Utf8("1")),
            ("GNU.sparse.name", TarBlocks.Utf8("real/name")),
            ("GNU.sparse.size", TarBlocks.Utf8("3000")),
            ("GNU.sparse.map", TarBlocks.Utf8("100,10,2000,5")));
        byte[] archive = new TarBlocks().Pax(records).File("GNUSparseFile.1/name", stored).End().ToArray();

        var (entry, content) = Assert.Single(await TarBlocks.ReadAllAsync(archive));

        byte[] expected = new byte[3000];
        expected.AsSpan(100, 10).Fill((byte)'A');
        expected.AsSpan(2000, 5).Fill((byte)'B');
        Assert.Equal("real/name", entry.Name);
        Assert.Equal(3000, entry.Size);
        Assert.Equal(expected, content);
    }

    [Fact]
    public async Task SparseMapThatDisagreesWithTheDataIsInvalid()
    {
        byte[] records = TarBlocks.PaxRecords(("GNU.sparse.size", TarBlocks.Utf8("3000")), ("GNU.sparse.map", TarBlocks.Utf8("100,10,50,5")));
        byte[] archive = new TarBlocks().Pax(records).File("f", new byte[15]).End().ToArray();

        var error = await TarBlocks.ReadFailureAsync(archive);

        Assert.Equal(DecantErrorKind.InvalidLayer, error.Kind);
        Assert.Contains("sparse map", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SparseMapOverTheLimitIsRefused()
    {
        string map = string.Join(',', Enumerable.Range(0, 20).Select(i => $"{i * 10},1"));
        byte[] records = TarBlocks.PaxRecords(("GNU.sparse.size", TarBlocks.Utf8("1000")), ("GNU.sparse.map", TarBlocks.Utf8(map)));
        byte[] archive = new TarBlocks().Pax(records).File("f", new byte[20]).End().ToArray();

        var error = await TarBlocks.ReadFailureAsync(archive, new TarReaderLimits { MaxSparseMapEntries = 10 });

        Assert.Equal(DecantErrorKind.LimitExceeded, error.Kind);
        Assert.Contains(nameof(TarReaderLimits.MaxSparseMapEntries), error.Message, StringComparison.Ordinal);
        Assert.Single(await TarBlocks.ReadAllAsync(archive));
    }

    [Fact]
    public async Task OldGnuSparseWithAnExtensionBlockIsExpanded()
    {
        // Six segments of 3 bytes: four in the header, two in one extension block.
        var segments = Enumerable.Range(0, 6).Select(i => (Offset: 1000L * i + 7, Length: 3L)).ToArray();
        byte[] stored = Enumerable.Range(0, 18).Select(i => (byte)('a' + i)).ToArray();
        byte[] header = TarBlocks.Header("sparse", 'S', stored.Length, magic: "ustar ", version: " \0", edit: b =>
        {
            for (int i = 0; i < 4; i++)
            {
                TarBlocks.Octal(b, 386 + (i * 24), 12, segments[i].Offset);
                TarBlocks.Octal(b, 386 + (i * 24) + 12, 12, segments[i].Length);
            }
            b[482] = 1;
            TarBlocks.Octal(b, 483, 12, 6000);
        });
        byte[] extension = new byte[512];
        for (int i = 0; i < 2; i++)
        {
            TarBlocks.Octal(extension, i * 24, 12, segments[4 + i].Offset);
            TarBlocks.Octal(extension, (i * 24) + 12, 12, segments[4 + i].Length);
        }
        byte[] archive = new TarBlocks().Add(header).Raw(extension).Raw(stored).Raw(new byte[512 - stored.Length]).File("after", Hello).End().ToArray();

        var entries = await TarBlocks.ReadAllAsync(archive);

        byte[] expected = new byte[6000];
        for (int i = 0; i < 6; i++)
        {
            stored.AsSpan(i * 3, 3).CopyTo(expected.AsSpan((int)segments[i].Offset));
        }
        Assert.Equal(6000, entries[0].Header.Size);
        Assert.Equal(expected, entries[0].Data);
        Assert.Equal(Hello, entries[1].Data);
    }
}
