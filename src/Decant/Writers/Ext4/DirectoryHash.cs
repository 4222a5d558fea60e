using System.Numerics;

namespace Decant.Writers.Ext4;

/// <summary>
/// The htree name hash ext4 calls "half MD4" (unsigned variant): the name is cut into 32-byte
/// pieces, each packed big-end-first into eight words padded with a length-derived pattern, and
/// each piece is folded into a four-word state (initialised from the hash seed) by a reduced MD4
/// round function. The major hash is the state's second word with its lowest bit cleared.
/// </summary>
internal sealed class DirectoryHash
{
    private const uint Round2Constant = 0x5A827999;
    private const uint Round3Constant = 0x6ED9EBA1;
    private readonly uint[] _seed;

    public DirectoryHash(ReadOnlySpan<uint> seed)
    {
        _seed = seed.ContainsAnyExcept(0u) ? seed.ToArray() : [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476];
    }

    public uint Hash(ReadOnlySpan<byte> name)
    {
        Span<uint> state = stackalloc uint[4];
        _seed.CopyTo(state);
        Span<uint> words = stackalloc uint[8];
        var rest = name;
        do
        {
            Pack(rest, words);
            Transform(state, words);
            rest = rest.Length > 32 ? rest[32..] : [];
        }
        while (!rest.IsEmpty);
        return state[1] & ~1u;
    }

    /// <summary>
    /// Packs up to 32 bytes into eight words, four bytes per word with the first byte highest; the
    /// rest is filled with a pattern made from the number of bytes left (this piece and later ones).
    /// </summary>
    private static void Pack(ReadOnlySpan<byte> bytes, Span<uint> words)
    {
        uint pad = (uint)bytes.Length | ((uint)bytes.Length << 8);
        pad |= pad << 16;
        int take = Math.Min(bytes.Length, 32);
        int word = 0;
        uint value = pad;
        for (int i = 0; i < take; i++)
        {
            value = bytes[i] + (value << 8);
            if (i % 4 == 3)
            {
                words[word++] = value;
                value = pad;
            }
        }
        if (word < 8 && take % 4 != 0)
        {
            words[word++] = value;
        }
        while (word < 8)
        {
            words[word++] = pad;
        }
    }

    private static uint Select(uint x, uint y, uint z) => z ^ (x & (y ^ z));

    private static uint Majority(uint x, uint y, uint z) => (x & y) + ((x ^ y) & z);

    private static uint Parity(uint x, uint y, uint z) => x ^ y ^ z;

    private static void Transform(Span<uint> state, ReadOnlySpan<uint> m)
    {
        uint a = state[0], b = state[1], c = state[2], d = state[3];

        a = BitOperations.RotateLeft(a + Select(b, c, d) + m[0], 3);
        d = BitOperations.RotateLeft(d + Select(a, b, c) + m[1], 7);
        c = BitOperations.RotateLeft(c + Select(d, a, b) + m[2], 11);
        b = BitOperations.RotateLeft(b + Select(c, d, a) + m[3], 19);
        a = BitOperations.RotateLeft(a + Select(b, c, d) + m[4], 3);
        d = BitOperations.RotateLeft(d + Select(a, b, c) + m[5], 7);
        c = BitOperations.RotateLeft(c + Select(d, a, b) + m[6], 11);
        b = BitOperations.RotateLeft(b + Select(c, d, a) + m[7], 19);

        a = BitOperations.RotateLeft(a + Majority(b, c, d) + m[1] + Round2Constant, 3);
        d = BitOperations.RotateLeft(d + Majority(a, b, c) + m[3] + Round2Constant, 5);
        c = BitOperations.RotateLeft(c + Majority(d, a, b) + m[5] + Round2Constant, 9);
        b = BitOperations.RotateLeft(b + Majority(c, d, a) + m[7] + Round2Constant, 13);
        a = BitOperations.RotateLeft(a + Majority(b, c, d) + m[0] + Round2Constant, 3);
        d = BitOperations.RotateLeft(d + Majority(a, b, c) + m[2] + Round2Constant, 5);
        c = BitOperations.RotateLeft(c + Majority(d, a, b) + m[4] + Round2Constant, 9);
        b = BitOperations.RotateLeft(b + Majority(c, d, a) + m[6] + Round2Constant, 13);

        a = BitOperations.RotateLeft(a + Parity(b, c, d) + m[3] + Round3Constant, 3);
        d = BitOperations.RotateLeft(d + Parity(a, b, c) + m[7] + Round3Constant, 9);
        c = BitOperations.RotateLeft(c + Parity(d, a, b) + m[2] + Round3Constant, 11);
        b = BitOperations.RotateLeft(b + Parity(c, d, a) + m[6] + Round3Constant, 15);
        a = BitOperations.RotateLeft(a + Parity(b, c, d) + m[1] + Round3Constant, 3);
        d = BitOperations.RotateLeft(d + Parity(a, b, c) + m[5] + Round3Constant, 9);
        c = BitOperations.RotateLeft(c + Parity(d, a, b) + m[0] + Round3Constant, 11);
        b = BitOperations.RotateLeft(b + Parity(c, d, a) + m[4] + Round3Constant, 15);

        state[0] += a;
        state[1] += b;
        state[2] += c;
        state[3] += d;
    }
}
