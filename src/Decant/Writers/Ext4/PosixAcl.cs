using System.Buffers.Binary;
using Decant.Model;

namespace Decant.Writers.Ext4;

/// <summary>
/// Converts a POSIX ACL from its xattr form (version 2: 8-byte entries of tag, permissions, id) to
/// ext4's on-disk form (version 1: 4-byte entries for the owner, group, mask and other tags, 8-byte
/// entries for named users and groups).
/// </summary>
internal static class PosixAcl
{
    private const ushort TagUser = 0x02, TagGroup = 0x08;

    public static byte[] ToDisk(byte[] xattr, string name)
    {
        if (xattr.Length < 4 || (xattr.Length - 4) % 8 != 0 || BinaryPrimitives.ReadUInt32LittleEndian(xattr) != 2)
        {
            throw new DecantException(DecantErrorKind.OutputError, $"xattr \"{name}\" is not a version 2 POSIX ACL");
        }
        using var disk = new MemoryStream();
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(word, 1);
        disk.Write(word);
        for (int at = 4; at < xattr.Length; at += 8)
        {
            ushort tag = BinaryPrimitives.ReadUInt16LittleEndian(xattr.AsSpan(at));
            disk.Write(xattr.AsSpan(at, 4)); // tag and permissions
            if (tag is TagUser or TagGroup)
            {
                disk.Write(xattr.AsSpan(at + 4, 4));
            }
        }
        return disk.ToArray();
    }
}
