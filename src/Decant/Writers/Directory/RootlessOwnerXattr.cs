namespace Decant.Writers.Directory;

/// <summary>
/// The <c>user.rootlesscontainers</c> xattr, as umoci writes it in rootless mode: a protobuf
/// <c>Resource</c> message with field 1 = uid and field 2 = gid (both uint32 varints). Like umoci,
/// an id of 0 is written as 0xFFFFFFFF ("unchanged", i.e. the caller's own id, which the rootless
/// container sees as root), and a file owned by 0:0 gets no xattr at all.
/// </summary>
internal static class RootlessOwnerXattr
{
    public const string Name = "user.rootlesscontainers";

    /// <summary>The protobuf value meaning "leave this id as the file's real owner".</summary>
    public const uint Unchanged = uint.MaxValue;

    private const byte UidTag = (1 << 3) | 0;
    private const byte GidTag = (2 << 3) | 0;

    /// <summary>The xattr value for an image owner, or null when none is written (owner 0:0).</summary>
    public static byte[]? Encode(uint uid, uint gid)
    {
        if (uid == 0 && gid == 0)
        {
            return null;
        }
        Span<byte> buffer = stackalloc byte[12];
        var length = 0;
        buffer[length++] = UidTag;
        length += WriteVarint(buffer[length..], uid == 0 ? Unchanged : uid);
        buffer[length++] = GidTag;
        length += WriteVarint(buffer[length..], gid == 0 ? Unchanged : gid);
        return buffer[..length].ToArray();
    }

    private static int WriteVarint(Span<byte> destination, uint value)
    {
        var i = 0;
        while (value >= 0x80)
        {
            destination[i++] = (byte)(value | 0x80);
            value >>= 7;
        }
        destination[i++] = (byte)value;
        return i;
    }
}
