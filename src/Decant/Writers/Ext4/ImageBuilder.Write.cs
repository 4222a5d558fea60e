using System.Numerics;
using Decant.Model;
using Decant.Tree;

namespace Decant.Writers.Ext4;

/// <summary>Writing the journal, inode tables, bitmaps, group descriptors and superblocks of a plan.</summary>
internal sealed partial class ImageBuilder
{
    private async Task WriteFilesystemAsync(FilesystemPlan plan, CancellationToken cancellationToken)
    {
        (byte[] Block, ulong Size)? journal = null;
        if (plan.JournalBlocks > 0)
        {
            journal = await WriteJournalAsync(plan, cancellationToken).ConfigureAwait(false);
        }
        var groups = new GroupDescriptor[plan.Groups];
        long freeInodes = await WriteInodeTablesAsync(plan, groups, cancellationToken).ConfigureAwait(false);
        long freeBlocks = await WriteBlockBitmapsAsync(plan, groups, cancellationToken).ConfigureAwait(false);
        if (freeBlocks != plan.TotalBlocks - plan.UsedBlocks)
        {
            throw new InvalidOperationException($"ext4 block accounting is off: {freeBlocks} free blocks in the bitmaps, {plan.TotalBlocks - plan.UsedBlocks} expected");
        }
        await _writer.FlushAsync(cancellationToken).ConfigureAwait(false);

        var shape = new FilesystemShape
        {
            TotalBlocks = plan.TotalBlocks, Groups = plan.Groups, InodesPerGroup = plan.InodesPerGroup,
            FreeBlocks = freeBlocks, FreeInodes = freeInodes, Uuid = _uuid, HashSeed = _hashSeed, Time = _time,
            Label = System.Text.Encoding.UTF8.GetBytes(_options.Label), Journal = journal,
        };
        byte[] descriptors = new byte[GroupLayout.DescriptorBlocks(plan.Groups) * Ext4Constants.BlockSize];
        for (int g = 0; g < groups.Length; g++)
        {
            groups[g].Encode(descriptors.AsSpan(g * Ext4Constants.DescriptorSize), (uint)g, _seed);
        }
        foreach (long group in _layout.BackupGroups.Where(g => g < plan.Groups))
        {
            long start = GroupLayout.GroupStart(group) * Ext4Constants.BlockSize;
            byte[] superblock = Superblock.Build(shape, group);
            await RandomAccess.WriteAsync(_file, superblock, group == 0 ? 1024 : start, cancellationToken).ConfigureAwait(false);
            await RandomAccess.WriteAsync(_file, descriptors, start + Ext4Constants.BlockSize, cancellationToken).ConfigureAwait(false);
        }
        long fileBlocks = _options.Size is { } size ? size / Ext4Constants.BlockSize : plan.TotalBlocks;
        RandomAccess.SetLength(_file, fileBlocks * Ext4Constants.BlockSize);
    }

    /// <summary>Writes the journal superblock and its extent tree, and fills in inode 8.</summary>
    private async Task<(byte[] Block, ulong Size)> WriteJournalAsync(FilesystemPlan plan, CancellationToken cancellationToken)
    {
        await _writer.WriteAsync(plan.JournalStart, JournalSuperblock.Build(plan.JournalBlocks, _uuid), cancellationToken).ConfigureAwait(false);
        var extents = new List<FileExtent>();
        for (int done = 0; done < plan.JournalBlocks; done += Ext4Constants.MaxExtentLength)
        {
            extents.Add(new FileExtent((uint)done, plan.JournalStart + done, Math.Min(Ext4Constants.MaxExtentLength, plan.JournalBlocks - done)));
        }
        var time = new Model.Timestamp(_time, 0);
        var record = new InodeRecord
        {
            Mode = Ext4Constants.ModeRegular | 0x180, // 0600
            ModificationTime = time,
            AccessTime = time,
            Links = 1,
            Flags = Ext4Constants.FlagExtents,
            Size = (ulong)plan.JournalBlocks * Ext4Constants.BlockSize,
            BlockCount = plan.JournalBlocks + plan.JournalTreeBlocks.Count,
        };
        foreach (var (block, data) in ExtentTree.Build(extents, plan.JournalTreeBlocks, Crc32C.InodeSeed(_seed, Ext4Constants.JournalInode), record.Block))
        {
            await _writer.WriteAsync(block, data, cancellationToken).ConfigureAwait(false);
        }
        _inodes[(int)Ext4Constants.JournalInode] = record;
        return (record.Block.ToArray(), record.Size);
    }

    /// <summary>Writes each group's inode table (only up to its last used inode) and inode bitmap. Returns the free inode count.</summary>
    private async Task<long> WriteInodeTablesAsync(FilesystemPlan plan, GroupDescriptor[] groups, CancellationToken cancellationToken)
    {
        int perGroup = plan.InodesPerGroup;
        long used = InodeCount;
        long free = 0;
        byte[] table = new byte[plan.InodeTableBlocks * Ext4Constants.BlockSize];
        byte[] bitmap = new byte[Ext4Constants.BlockSize];
        for (long g = 0; g < plan.Groups; g++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            long first = g * perGroup + 1;
            int usedHere = (int)Math.Clamp(used - first + 1, 0, perGroup);
            long directories = 0;
            if (usedHere > 0)
            {
                int bytes = (usedHere * Ext4Constants.InodeSize + Ext4Constants.BlockSize - 1) / Ext4Constants.BlockSize * Ext4Constants.BlockSize;
                Array.Clear(table, 0, bytes);
                for (int i = 0; i < usedHere; i++)
                {
                    if (_inodes[(int)(first + i)] is { } record)
                    {
                        record.Encode(table.AsSpan(i * Ext4Constants.InodeSize), (uint)(first + i), _seed);
                        directories += record.IsDirectory ? 1 : 0;
                    }
                }
                await _writer.WriteAsync(plan.InodeTables + g * plan.InodeTableBlocks, table.AsMemory(0, bytes), cancellationToken).ConfigureAwait(false);
            }
            Array.Clear(bitmap);
            SetBits(bitmap, 0, usedHere);
            SetBits(bitmap, perGroup, Ext4Constants.BlockSize * 8);
            await _writer.WriteAsync(plan.InodeBitmaps + g, bitmap, cancellationToken).ConfigureAwait(false);
            free += perGroup - usedHere;
            groups[g] = new GroupDescriptor(
                plan.BlockBitmaps + g, plan.InodeBitmaps + g, plan.InodeTables + g * plan.InodeTableBlocks,
                FreeBlocks: 0, FreeInodes: perGroup - usedHere, Directories: directories, UnusedInodes: perGroup - usedHere,
                BlockBitmapChecksum: 0, InodeBitmapChecksum: Crc32C.Append(_seed, bitmap.AsSpan(0, perGroup / 8)));
        }
        return free;
    }

    /// <summary>Writes each group's block bitmap and completes its descriptor. Returns the free block count.</summary>
    private async Task<long> WriteBlockBitmapsAsync(FilesystemPlan plan, GroupDescriptor[] groups, CancellationToken cancellationToken)
    {
        const int PerGroup = Ext4Constants.BlocksPerGroup;
        long highWater = _allocator.HighWater;
        long descriptorBlocks = GroupLayout.DescriptorBlocks(plan.Groups);
        var freeRuns = _allocator.FreeRuns;
        int runIndex = 0;
        long totalFree = 0;
        byte[] bitmap = new byte[Ext4Constants.BlockSize];
        for (long g = 0; g < plan.Groups; g++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            long start = GroupLayout.GroupStart(g);
            long end = start + PerGroup;
            Array.Clear(bitmap);
            SetBits(bitmap, 0, (int)Math.Clamp(highWater - start, 0, PerGroup));
            bool backup = _layout.HasBackup(g);
            if (backup)
            {
                ClearBits(bitmap, 0, (int)_layout.ZoneBlocks);
            }
            while (runIndex < freeRuns.Count && freeRuns[runIndex].End <= start)
            {
                runIndex++;
            }
            for (int r = runIndex; r < freeRuns.Count && freeRuns[r].Start < end; r++)
            {
                var run = freeRuns[r];
                ClearBits(bitmap, (int)(Math.Max(run.Start, start) - start), (int)(Math.Min(run.End, end) - start));
            }
            if (backup)
            {
                SetBits(bitmap, 0, (int)(1 + descriptorBlocks));
            }
            int blocksHere = (int)Math.Min(PerGroup, plan.TotalBlocks - start);
            SetBits(bitmap, blocksHere, PerGroup);
            long free = PerGroup - PopCount(bitmap);
            totalFree += free;
            await _writer.WriteAsync(plan.BlockBitmaps + g, bitmap, cancellationToken).ConfigureAwait(false);
            groups[g] = groups[g] with { FreeBlocks = free, BlockBitmapChecksum = Crc32C.Append(_seed, bitmap) };
        }
        return totalFree;
    }

    private static void SetBits(byte[] bitmap, int from, int to) => PaintBits(bitmap, from, to, set: true);

    private static void ClearBits(byte[] bitmap, int from, int to) => PaintBits(bitmap, from, to, set: false);

    private static void PaintBits(byte[] bitmap, int from, int to, bool set)
    {
        int bit = from;
        while (bit < to && (bit & 7) != 0)
        {
            Paint(bitmap, bit++, set);
        }
        int wholeBytes = (to - bit) / 8;
        if (wholeBytes > 0)
        {
            bitmap.AsSpan(bit / 8, wholeBytes).Fill(set ? (byte)0xFF : (byte)0);
            bit += wholeBytes * 8;
        }
        while (bit < to)
        {
            Paint(bitmap, bit++, set);
        }
    }

    private static void Paint(byte[] bitmap, int bit, bool set)
    {
        if (set)
        {
            bitmap[bit >> 3] |= (byte)(1 << (bit & 7));
        }
        else
        {
            bitmap[bit >> 3] &= (byte)~(1 << (bit & 7));
        }
    }

    private static long PopCount(byte[] bitmap)
    {
        long count = 0;
        for (int i = 0; i < bitmap.Length; i += 8)
        {
            count += BitOperations.PopCount(BitConverter.ToUInt64(bitmap, i));
        }
        return count;
    }

}
