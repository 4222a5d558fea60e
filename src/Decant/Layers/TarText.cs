using Decant.Model;

namespace Decant.Layers;

/// <summary>
/// Turns the bytes of tar names, link targets and xattr names into Decant's lossless string form
/// (<see cref="NameBytes"/>): valid UTF-8 is decoded as such and any other byte is kept as an escape,
/// so the writers give back exactly the bytes the archive held, whichever header form carried them
/// (ustar name and prefix, GNU long name and long link, PAX records, with or without
/// <c>hdrcharset=BINARY</c>).
/// </summary>
internal static class TarText
{
    /// <summary>Decodes a whole byte string (a PAX value or GNU long name without its terminator).</summary>
    public static string Decode(ReadOnlySpan<byte> bytes)
    {
        return NameBytes.Decode(bytes);
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
