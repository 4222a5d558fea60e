using System.Text;
using System.Text.Unicode;

namespace Decant.Layers;

/// <summary>
/// Turns the bytes of tar names into strings. Valid UTF-8 (the POSIX and Go convention) is decoded
/// as such. A name that is not valid UTF-8 is decoded as Latin-1 instead: every byte becomes the
/// character with the same value, so nothing is lost or replaced, and the original bytes are
/// <c>Encoding.Latin1.GetBytes(name)</c>. The one ambiguity is that such a name can equal a valid
/// UTF-8 name spelled with the same Latin-1 characters.
/// </summary>
internal static class TarText
{
    /// <summary>Decodes a whole byte string (a PAX value or GNU long name without its terminator).</summary>
    public static string Decode(ReadOnlySpan<byte> bytes)
    {
        if (bytes.IsEmpty)
        {
            return "";
        }
        return Utf8.IsValid(bytes) ? Encoding.UTF8.GetString(bytes) : Encoding.Latin1.GetString(bytes);
    }

    /// <summary>Decodes a NUL-terminated (or full-width) header field.</summary>
    public static string DecodeField(ReadOnlySpan<byte> field) => Decode(UntilNul(field));

    /// <summary>The bytes before the first NUL.</summary>
    public static ReadOnlySpan<byte> UntilNul(ReadOnlySpan<byte> field)
    {
        int nul = field.IndexOf((byte)0);
        return nul < 0 ? field : field[..nul];
    }

    /// <summary>Remembers the last decoded field, so a run of entries owned by "root" shares one string.</summary>
    internal sealed class Cache
    {
        private byte[] _bytes = [];
        private string _text = "";

        public string Decode(ReadOnlySpan<byte> field)
        {
            var bytes = UntilNul(field);
            if (!bytes.SequenceEqual(_bytes))
            {
                _bytes = bytes.ToArray();
                _text = TarText.Decode(bytes);
            }
            return _text;
        }
    }
}
