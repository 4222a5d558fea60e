using System.Buffers.Binary;

namespace Decant.Writers;

/// <summary>Short little-endian stores into on-disk structures.</summary>
internal static class LittleEndian
{
    public static void Put16(Span<byte> buffer, int offset, int value) => BinaryPrimitives.WriteUInt16LittleEndian(buffer[offset..], (ushort)value);

    public static void Put32(Span<byte> buffer, int offset, uint value) => BinaryPrimitives.WriteUInt32LittleEndian(buffer[offset..], value);

    public static void Put64(Span<byte> buffer, int offset, ulong value) => BinaryPrimitives.WriteUInt64LittleEndian(buffer[offset..], value);
}
