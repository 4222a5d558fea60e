using static Decant.Writers.LittleEndian;

namespace Decant.Writers.Ext4;

/// <summary>One 64-byte group descriptor (64bit feature) and its checksums.</summary>
internal readonly record struct GroupDescriptor(
    long BlockBitmap, long InodeBitmap, long InodeTable, long FreeBlocks, long FreeInodes, long Directories,
    long UnusedInodes, uint BlockBitmapChecksum, uint InodeBitmapChecksum)
{
    public void Encode(Span<byte> d, uint group, uint filesystemSeed)
    {
        d[..Ext4Constants.DescriptorSize].Clear();
        Put32(d, 0x00, (uint)BlockBitmap);
        Put32(d, 0x04, (uint)InodeBitmap);
        Put32(d, 0x08, (uint)InodeTable);
        Put16(d, 0x0C, (int)(FreeBlocks & 0xFFFF));
        Put16(d, 0x0E, (int)(FreeInodes & 0xFFFF));
        Put16(d, 0x10, (int)(Directories & 0xFFFF));
        Put16(d, 0x12, Ext4Constants.GroupInodeTableZeroed);
        Put16(d, 0x18, (int)(BlockBitmapChecksum & 0xFFFF));
        Put16(d, 0x1A, (int)(InodeBitmapChecksum & 0xFFFF));
        Put16(d, 0x1C, (int)(UnusedInodes & 0xFFFF));
        Put32(d, 0x20, (uint)(BlockBitmap >> 32));
        Put32(d, 0x24, (uint)(InodeBitmap >> 32));
        Put32(d, 0x28, (uint)(InodeTable >> 32));
        Put16(d, 0x2C, (int)(FreeBlocks >> 16));
        Put16(d, 0x2E, (int)(FreeInodes >> 16));
        Put16(d, 0x30, (int)(Directories >> 16));
        Put16(d, 0x32, (int)(UnusedInodes >> 16));
        Put16(d, 0x38, (int)(BlockBitmapChecksum >> 16));
        Put16(d, 0x3A, (int)(InodeBitmapChecksum >> 16));
        uint crc = Crc32C.Append(Crc32C.Append(filesystemSeed, group), d[..Ext4Constants.DescriptorSize]);
        Put16(d, 0x1E, (int)(crc & 0xFFFF));
    }
}
