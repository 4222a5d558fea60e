using System.Buffers;
using System.Text;
using System.Text.Unicode;

namespace Decant.Model;

/// <summary>
/// File names, link targets and xattr names are byte strings on Linux, and in layer tars. Decant holds
/// them as .NET strings through a lossless decoding: valid UTF-8 is decoded as UTF-8, and every byte
/// that is not part of a valid UTF-8 sequence becomes the lone low surrogate U+DC00 + byte
/// (U+DC80 to U+DCFF), the "surrogateescape" scheme of Python's PEP 383. UTF-8 cannot encode a
/// surrogate, so no valid sequence decodes to one, and the mapping is a bijection: <see cref="GetBytes"/>
/// gives back exactly the bytes <see cref="Decode"/> was given. Two names are equal exactly when their
/// bytes are, and <see cref="Comparer"/> orders them as their bytes order.
/// <para>Every place a name meets the outside world goes through this class: the tar reader decodes,
/// the writers and libc calls encode, and messages show names through <see cref="Escape"/>.</para>
/// </summary>
public static class NameBytes
{
    private const char FirstEscape = '\uDC80';
    private const char LastEscape = '\uDCFF';

    /// <summary>Decodes the bytes of a name into its lossless string form.</summary>
    public static string Decode(ReadOnlySpan<byte> bytes)
    {
        if (bytes.IsEmpty)
        {
            return "";
        }
        if (Utf8.IsValid(bytes))
        {
            return Encoding.UTF8.GetString(bytes);
        }
        return DecodeWithEscapes(bytes);
    }

    private static string DecodeWithEscapes(ReadOnlySpan<byte> bytes)
    {
        // Never more UTF-16 units than bytes: a rune of n bytes takes at most n units, an escape one.
        char[]? rented = bytes.Length > 512 ? ArrayPool<char>.Shared.Rent(bytes.Length) : null;
        Span<char> text = rented ?? stackalloc char[bytes.Length];
        int written = 0;
        while (!bytes.IsEmpty)
        {
            if (Rune.DecodeFromUtf8(bytes, out var rune, out int consumed) == OperationStatus.Done)
            {
                written += rune.EncodeToUtf16(text[written..]);
                bytes = bytes[consumed..];
            }
            else
            {
                text[written++] = (char)(0xDC00 + bytes[0]);
                bytes = bytes[1..];
            }
        }
        string result = new(text[..written]);
        if (rented is not null)
        {
            ArrayPool<char>.Shared.Return(rented);
        }
        return result;
    }

    /// <summary>True when the name holds bytes that are not valid UTF-8 (escaped in its string form).</summary>
    public static bool HasRawBytes(string name) => name.AsSpan().IndexOfAnyInRange(FirstEscape, LastEscape) >= 0;

    /// <summary>The number of bytes <paramref name="name"/> stands for.</summary>
    public static int GetByteCount(string name) =>
        HasRawBytes(name) ? CountWithEscapes(name) : Encoding.UTF8.GetByteCount(name);

    private static int CountWithEscapes(ReadOnlySpan<char> name)
    {
        int count = 0;
        while (!name.IsEmpty)
        {
            var (length, consumed) = Next(name, []);
            count += length;
            name = name[consumed..];
        }
        return count;
    }

    /// <summary>The bytes <paramref name="name"/> stands for.</summary>
    public static byte[] GetBytes(string name)
    {
        if (!HasRawBytes(name))
        {
            return Encoding.UTF8.GetBytes(name);
        }
        byte[] bytes = new byte[CountWithEscapes(name)];
        Encode(name, bytes);
        return bytes;
    }

    /// <summary>Writes the bytes of <paramref name="name"/> to <paramref name="destination"/>, which must hold <see cref="GetByteCount"/> bytes; returns that count.</summary>
    public static int Encode(ReadOnlySpan<char> name, Span<byte> destination)
    {
        if (name.IndexOfAnyInRange(FirstEscape, LastEscape) < 0)
        {
            return Encoding.UTF8.GetBytes(name, destination);
        }
        int written = 0;
        while (!name.IsEmpty)
        {
            var (length, consumed) = Next(name, destination[written..]);
            written += length;
            name = name[consumed..];
        }
        return written;
    }

    /// <summary>Encodes the first unit of <paramref name="name"/> (a rune or an escaped byte) into <paramref name="destination"/> when it is not empty.</summary>
    private static (int Length, int Consumed) Next(ReadOnlySpan<char> name, Span<byte> destination)
    {
        if (name[0] is >= FirstEscape and <= LastEscape)
        {
            if (!destination.IsEmpty)
            {
                destination[0] = (byte)(name[0] - 0xDC00);
            }
            return (1, 1);
        }
        // Any other lone surrogate cannot come from Decode; it is written as U+FFFD, as UTF-8 encoders do.
        var rune = Rune.DecodeFromUtf16(name, out var decoded, out int consumed) == OperationStatus.Done ? decoded : Rune.ReplacementChar;
        int length = rune.Utf8SequenceLength;
        if (!destination.IsEmpty)
        {
            rune.EncodeToUtf8(destination);
        }
        return (length, Math.Max(consumed, 1));
    }

    /// <summary>
    /// True when <paramref name="name"/> is the string form of some byte string, as every name the tar
    /// reader produces is. A host that builds names itself may hold a lone surrogate that is not an
    /// escape, or escapes that spell valid UTF-8; such a string would not round-trip.
    /// </summary>
    public static bool IsLossless(string name) => Decode(GetBytes(name)) == name;

    /// <summary>
    /// The name for people to read: raw bytes and control characters are shown as <c>\xNN</c>
    /// (0xE9 as <c>\xE9</c>); everything else is left as it is. For messages, JSON and logs only.
    /// </summary>
    public static string Escape(string text)
    {
        int first = IndexOfUnprintable(text);
        if (first < 0)
        {
            return text;
        }
        var builder = new StringBuilder(text.Length + 8);
        builder.Append(text, 0, first);
        foreach (char c in text.AsSpan(first))
        {
            if (c is >= FirstEscape and <= LastEscape)
            {
                builder.Append(@"\x").Append(((int)c - 0xDC00).ToString("X2", System.Globalization.CultureInfo.InvariantCulture));
            }
            else if (c < 0x20 || c == 0x7F)
            {
                builder.Append(@"\x").Append(((int)c).ToString("X2", System.Globalization.CultureInfo.InvariantCulture));
            }
            else
            {
                builder.Append(c);
            }
        }
        return builder.ToString();
    }

    private static int IndexOfUnprintable(string text)
    {
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (c < 0x20 || c == 0x7F || c is >= FirstEscape and <= LastEscape)
            {
                return i;
            }
        }
        return -1;
    }

    /// <summary>Orders names as their bytes order (what <c>LC_ALL=C sort</c> and ext4 tools do).</summary>
    public static StringComparer Comparer { get; } = new ByteOrderComparer();

    /// <summary>Compares two names by their bytes.</summary>
    public static int Compare(string? a, string? b) => Comparer.Compare(a, b);

    private sealed class ByteOrderComparer : StringComparer
    {
        public override int Compare(string? x, string? y)
        {
            if (ReferenceEquals(x, y))
            {
                return 0;
            }
            if (x is null || y is null)
            {
                return x is null ? -1 : 1;
            }
            int common = x.AsSpan().CommonPrefixLength(y);
            if (common == x.Length || common == y.Length)
            {
                return x.Length.CompareTo(y.Length);
            }
            char a = x[common], b = y[common];
            // Below the surrogates, UTF-16 units order as code points, and so as UTF-8 bytes.
            if (a < 0xD800 && b < 0xD800)
            {
                return a.CompareTo(b);
            }
            return CompareBytes(x.AsSpan(StartOfUnit(x, common)), y.AsSpan(StartOfUnit(y, common)));
        }

        /// <summary>Backs up to the start of a surrogate pair that <paramref name="index"/> splits.</summary>
        private static int StartOfUnit(string s, int index) =>
            index > 0 && char.IsLowSurrogate(s[index]) && char.IsHighSurrogate(s[index - 1]) ? index - 1 : index;

        /// <summary>Compares the bytes two remainders stand for (an escape's byte may be a prefix of a rune's bytes, so they are compared whole).</summary>
        private static int CompareBytes(ReadOnlySpan<char> x, ReadOnlySpan<char> y)
        {
            // A UTF-16 unit stands for at most 3 bytes (a pair, two units, for 4).
            int capacity = 3 * (x.Length + y.Length);
            byte[]? rented = capacity > 1024 ? ArrayPool<byte>.Shared.Rent(capacity) : null;
            Span<byte> buffer = rented ?? stackalloc byte[capacity];
            int lengthX = Encode(x, buffer);
            int lengthY = Encode(y, buffer[lengthX..]);
            int order = buffer[..lengthX].SequenceCompareTo(buffer.Slice(lengthX, lengthY));
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
            return order;
        }

        public override bool Equals(string? x, string? y) => string.Equals(x, y, StringComparison.Ordinal);

        public override int GetHashCode(string obj) => StringComparer.Ordinal.GetHashCode(obj);
    }
}
