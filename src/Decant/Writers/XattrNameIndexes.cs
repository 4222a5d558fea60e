using Decant.Model;

namespace Decant.Writers;

/// <summary>
/// Xattr names as ext4 and EROFS store them: a one-byte index for the name's namespace prefix (the
/// numbering both formats inherited from ext2) and the rest of the name, at most 255 bytes.
/// </summary>
internal static class XattrNameIndexes
{
    public const byte User = 1;
    public const byte PosixAclAccess = 2;
    public const byte PosixAclDefault = 3;
    public const byte Trusted = 4;
    public const byte Security = 6;
    public const byte System = 7;

    /// <summary>The index of a POSIX ACL name (its whole name is the prefix), or 0 for any other name.</summary>
    public static byte PosixAcl(string name) => name switch
    {
        "system.posix_acl_access" => PosixAclAccess,
        "system.posix_acl_default" => PosixAclDefault,
        _ => 0,
    };

    /// <summary>
    /// Splits <paramref name="name"/> by the first of <paramref name="prefixes"/> it starts with (and
    /// goes on after): its index and the rest as bytes. False when no prefix covers the name.
    /// </summary>
    /// <exception cref="DecantException">The rest of the name is longer than 255 bytes.</exception>
    public static bool TrySplit(string name, ReadOnlySpan<(string Prefix, byte Index)> prefixes, string format, out byte index, out byte[] suffix)
    {
        foreach (var (prefix, prefixIndex) in prefixes)
        {
            if (name.StartsWith(prefix, StringComparison.Ordinal) && name.Length > prefix.Length)
            {
                suffix = NameBytes.GetBytes(name[prefix.Length..]);
                if (suffix.Length > byte.MaxValue)
                {
                    throw new DecantException(DecantErrorKind.OutputError, $"the xattr name \"{name}\" is longer than {format} allows ({byte.MaxValue} bytes after the prefix)");
                }
                index = prefixIndex;
                return true;
            }
        }
        (index, suffix) = (0, []);
        return false;
    }
}
