namespace Decant.Layers;

/// <summary>
/// The layout of a 512-byte tar header block (v7, ustar, GNU and star) and the parsing of its
/// numeric fields. Works in place on spans; allocates nothing.
/// </summary>
internal static class TarHeaderFields
{
    public const int BlockSize = 512;

    public static readonly Range Name = 0..100;
    public static readonly Range Mode = 100..108;
    public static readonly Range Uid = 108..116;
    public static readonly Range Gid = 116..124;
    public static readonly Range Size = 124..136;
    public static readonly Range ModificationTime = 136..148;
    public static readonly Range Checksum = 148..156;
    public const int TypeFlag = 156;
    public static readonly Range LinkName = 157..257;
    public static readonly Range Magic = 257..263;
    public static readonly Range Version = 263..265;
    public static readonly Range UserName = 265..297;
    public static readonly Range GroupName = 297..329;
    public static readonly Range DeviceMajor = 329..337;
    public static readonly Range DeviceMinor = 337..345;
    public static readonly Range UstarPrefix = 345..500;
    public static readonly Range StarPrefix = 345..476;
    public static readonly Range StarTrailer = 508..512;
    public static readonly Range GnuAccessTime = 345..357;
    /// <summary>Old GNU sparse: four (offset, length) pairs of 12-byte fields.</summary>
    public const int GnuSparseEntries = 386;
    public const int GnuSparseEntryCount = 4;
    public const int GnuIsExtended = 482;
    public static readonly Range GnuRealSize = 483..495;
    /// <summary>An old GNU sparse extension block: 21 pairs, then the is-extended flag.</summary>
    public const int GnuExtensionEntryCount = 21;
    public const int GnuExtensionIsExtended = 504;

    /// <summary>The header formats, told apart by the magic and version fields.</summary>
    internal enum Format
    {
        V7,
        Ustar,
        Star,
        Gnu,
    }

    public static Format DetectFormat(ReadOnlySpan<byte> block)
    {
        var magic = block[Magic];
        var version = block[Version];
        if (magic.SequenceEqual("ustar\0"u8) && version.SequenceEqual("00"u8))
        {
            return block[StarTrailer].SequenceEqual("tar\0"u8) ? Format.Star : Format.Ustar;
        }
        if (magic.SequenceEqual("ustar "u8) && version.SequenceEqual(" \0"u8))
        {
            return Format.Gnu;
        }
        return Format.V7;
    }

    /// <summary>Whether the block is all zeros (an end-of-archive marker).</summary>
    public static bool IsZeroBlock(ReadOnlySpan<byte> block) => !block.ContainsAnyExcept((byte)0);

    /// <summary>
    /// Checks the header checksum: the sum of all bytes with the checksum field counted as spaces.
    /// Both the unsigned sum (POSIX) and the signed sum (some old tars) are accepted.
    /// </summary>
    public static bool ChecksumMatches(ReadOnlySpan<byte> block, out long stored, out long computed)
    {
        computed = 0;
        if (!TryParseNumeric(block[Checksum], out stored))
        {
            stored = -1;
        }
        uint unsignedSum = 0;
        int signedSum = 0;
        foreach (byte b in block)
        {
            unsignedSum += b;
            signedSum += (sbyte)b;
        }
        // The checksum field itself counts as eight spaces.
        foreach (byte b in block[Checksum])
        {
            unsignedSum = unsignedSum - b + ' ';
            signedSum = signedSum - (sbyte)b + ' ';
        }
        computed = unsignedSum;
        return stored == unsignedSum || stored == signedSum;
    }

    /// <summary>
    /// Parses a numeric header field: octal digits with leading and trailing spaces or NULs
    /// tolerated as GNU tar does (an empty field is 0), or GNU base-256 when the high bit of the
    /// first byte is set (two's complement, so negative values are possible).
    /// </summary>
    public static bool TryParseNumeric(ReadOnlySpan<byte> field, out long value)
    {
        value = 0;
        if (field.IsEmpty)
        {
            return true;
        }
        if ((field[0] & 0x80) != 0)
        {
            return TryParseBase256(field, out value);
        }
        int i = 0;
        while (i < field.Length && field[i] is (byte)' ' or 0)
        {
            i++;
        }
        ulong result = 0;
        for (; i < field.Length && field[i] is >= (byte)'0' and <= (byte)'7'; i++)
        {
            if (result > (ulong.MaxValue >> 3))
            {
                return false;
            }
            result = (result << 3) | (uint)(field[i] - '0');
        }
        if (field[i..].ContainsAnyExcept((byte)' ', (byte)0) || result > long.MaxValue)
        {
            return false;
        }
        value = (long)result;
        return true;
    }

    private static bool TryParseBase256(ReadOnlySpan<byte> field, out long value)
    {
        value = 0;
        // Bit 6 of the first byte is the sign; invert negative numbers so the magnitude is parsed.
        byte invert = (field[0] & 0x40) != 0 ? (byte)0xFF : (byte)0;
        ulong magnitude = 0;
        for (int i = 0; i < field.Length; i++)
        {
            byte b = (byte)(field[i] ^ invert);
            if (i == 0)
            {
                b &= 0x7F;
            }
            if ((magnitude >> 56) != 0)
            {
                return false;
            }
            magnitude = (magnitude << 8) | b;
        }
        if ((magnitude >> 63) != 0)
        {
            return false;
        }
        value = invert == 0 ? (long)magnitude : ~(long)magnitude;
        return true;
    }
}
