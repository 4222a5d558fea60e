namespace Decant.Writers.Ext4;

/// <summary>
/// Where the superblock and group descriptor copies go (sparse_super: groups 0, 1 and the powers of
/// 3, 5 and 7), and the zone reserved for them at the start of those groups. The zone is sized for
/// the most groups an image may have, so data can stream into the image before its size is known.
/// </summary>
internal sealed class GroupLayout
{
    private readonly long[] _backupGroups;

    public GroupLayout(long maxGroups)
    {
        MaxGroups = maxGroups;
        ZoneBlocks = 1 + DescriptorBlocks(maxGroups);
        var groups = new SortedSet<long> { 0, 1 };
        foreach (long factor in (ReadOnlySpan<long>)[3, 5, 7])
        {
            for (long power = factor; power < maxGroups; power *= factor)
            {
                groups.Add(power);
            }
        }
        _backupGroups = [.. groups.Where(g => g < maxGroups)];
    }

    /// <summary>The most groups an image written with this layout may have.</summary>
    public long MaxGroups { get; }

    /// <summary>Blocks reserved at the start of every group holding a superblock copy.</summary>
    public long ZoneBlocks { get; }

    /// <summary>The groups that hold a superblock copy, in ascending order (group 0 first).</summary>
    public IReadOnlyList<long> BackupGroups => _backupGroups;

    public static long DescriptorBlocks(long groups) => (groups + Ext4Constants.DescriptorsPerBlock - 1) / Ext4Constants.DescriptorsPerBlock;

    public static long GroupStart(long group) => group * Ext4Constants.BlocksPerGroup;

    public bool HasBackup(long group) => Array.BinarySearch(_backupGroups, group) >= 0;

    /// <summary>If <paramref name="block"/> lies in a reserved zone, the first block after it; otherwise the block itself.</summary>
    public long SkipZone(long block)
    {
        long group = block / Ext4Constants.BlocksPerGroup;
        long offset = block % Ext4Constants.BlocksPerGroup;
        return offset < ZoneBlocks && HasBackup(group) ? GroupStart(group) + ZoneBlocks : block;
    }

    /// <summary>The first block of the next reserved zone strictly after <paramref name="block"/> (or long.MaxValue).</summary>
    public long NextZoneStart(long block)
    {
        long group = block / Ext4Constants.BlocksPerGroup + 1;
        int index = Array.BinarySearch(_backupGroups, group);
        if (index < 0)
        {
            index = ~index;
        }
        return index < _backupGroups.Length ? GroupStart(_backupGroups[index]) : long.MaxValue;
    }
}
