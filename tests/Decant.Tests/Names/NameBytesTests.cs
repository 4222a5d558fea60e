using Decant.Model;

namespace Decant.Tests.Names;

/// <summary>
/// Names are bytes: the string form Decant holds them in must give back exactly the bytes it was
/// made from, keep different byte strings apart, and order them as their bytes order.
/// </summary>
public class NameBytesTests
{
    /// <summary>Byte strings that are not valid UTF-8, each a trap a text decoder falls into.</summary>
    public static TheoryData<string, byte[]> Awkward() => new()
    {
        { "a lone high byte (Latin-1 e-acute)", [.. "latin1-"u8, 0xE9, .. "-invalid-utf8.bin"u8] },
        { "0xFF alone", [0xFF] },
        { "the UTF-8 spelling of U+00FF", [0xC3, 0xBF] },
        { "an overlong '/' (C0 AF)", [.. "a"u8, 0xC0, 0xAF, .. "b"u8] },
        { "an overlong NUL-free 3-byte '.' (E0 80 AE)", [0xE0, 0x80, 0xAE] },
        { "a UTF-8 encoded surrogate (ED A0 80)", [0xED, 0xA0, 0x80] },
        { "a CESU-8 surrogate pair", [0xED, 0xA0, 0xBD, 0xED, 0xB8, 0x80] },
        { "a truncated 4-byte sequence at the end", [.. "x"u8, 0xF0, 0x9F, 0x98] },
        { "a continuation byte alone", [0x80] },
        { "bytes above U+10FFFF (F4 90 80 80)", [0xF4, 0x90, 0x80, 0x80] },
        { "F5..FF lead bytes", [0xF5, 0xF8, 0xFC, 0xFE, 0xFF] },
        { "valid 4-byte then raw", [0xF0, 0x9F, 0x98, 0x80, 0xE9] },
        { "raw bytes that spell an escape's own UTF-16 (ED B3 A9)", [0xED, 0xB3, 0xA9] },
    };

    [Theory]
    [MemberData(nameof(Awkward))]
    public void AwkwardBytesRoundTrip(string what, byte[] bytes)
    {
        string name = NameBytes.Decode(bytes);
        Assert.True(bytes.AsSpan().SequenceEqual(NameBytes.GetBytes(name)), what);
        Assert.Equal(bytes.Length, NameBytes.GetByteCount(name));
        Assert.True(NameBytes.IsLossless(name), what);
    }

    [Fact]
    public void RandomByteStringsRoundTripAndStayDistinct()
    {
        var random = new Random(20261201);
        var seen = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        for (int i = 0; i < 20_000; i++)
        {
            byte[] bytes = new byte[random.Next(1, 40)];
            for (int j = 0; j < bytes.Length; j++)
            {
                // Mostly high bytes and the lead/continuation bytes that make near-valid sequences.
                bytes[j] = (byte)(random.Next(4) == 0 ? random.Next(1, 0x80) : random.Next(0x80, 0x100));
            }
            string name = NameBytes.Decode(bytes);
            Assert.Equal(bytes, NameBytes.GetBytes(name));
            if (seen.TryGetValue(name, out var other))
            {
                Assert.Equal(other, bytes); // one string form, one byte string
            }
            seen[name] = bytes;
        }
    }

    [Fact]
    public void ByteStringsThatATextDecoderConfusesStayApart()
    {
        Assert.NotEqual(NameBytes.Decode([0xFF]), NameBytes.Decode([0xC3, 0xBF]));
        Assert.NotEqual(NameBytes.Decode([0xE9]), NameBytes.Decode([0xC3, 0xA9]));
        Assert.NotEqual(NameBytes.Decode([0xE9]), NameBytes.Decode([0xEF, 0xBF, 0xBD])); // not U+FFFD either
        Assert.DoesNotContain('/', NameBytes.Decode([0xC0, 0xAF]));
        Assert.Equal("café", NameBytes.Decode("café"u8));
    }

    [Fact]
    public void ComparerOrdersNamesAsTheirBytes()
    {
        var random = new Random(7);
        byte[][] pool =
        [
            [0xE9], [0xC3, 0xA9], [0xED, 0x95, 0x9C], [0xEE, 0x80, 0x80], [0xF0, 0x9F, 0x98, 0x80], [0xFF], [0x7F], [0x61],
            [0xEF, 0xBF, 0xBF], [0xED, 0xB3, 0xA9], [0xC2, 0x80], [0x80],
        ];
        for (int i = 0; i < 20_000; i++)
        {
            byte[] a = Compose(random, pool), b = Compose(random, pool);
            int expected = Math.Sign(a.AsSpan().SequenceCompareTo(b));
            Assert.Equal(expected, Math.Sign(NameBytes.Compare(NameBytes.Decode(a), NameBytes.Decode(b))));
        }
    }

    private static byte[] Compose(Random random, byte[][] pool)
    {
        var bytes = new List<byte>();
        for (int n = random.Next(1, 5); n > 0; n--)
        {
            bytes.AddRange(pool[random.Next(pool.Length)]);
        }
        return [.. bytes];
    }

    [Fact]
    public void EscapeShowsRawBytesAndControlCharactersAsHex()
    {
        Assert.Equal(@"latin1-\xE9.bin", NameBytes.Escape(NameBytes.Decode([.. "latin1-"u8, 0xE9, .. ".bin"u8])));
        Assert.Equal(@"a\x0Ab\x1B[31m", NameBytes.Escape("a\nb\u001b[31m"));
        Assert.Equal("日本語 café", NameBytes.Escape("日本語 café"));
    }

    [Fact]
    public void StringsThatNoByteStringDecodesToAreNotLossless()
    {
        Assert.False(NameBytes.IsLossless("\uDCC3\uDCA9")); // escapes that spell valid UTF-8 (é)
        Assert.False(NameBytes.IsLossless("a\uD800b")); // a lone high surrogate
        Assert.True(NameBytes.IsLossless("plain"));
    }
}
