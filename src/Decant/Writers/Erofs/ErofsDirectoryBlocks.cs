using static Decant.Writers.LittleEndian;

namespace Decant.Writers.Erofs;

/// <summary>One directory entry: the name's bytes, the child's nid and its file type.</summary>
internal readonly record struct ErofsDirent(byte[] Name, ulong Nid, byte FileType);

/// <summary>
/// A directory's content: entries sorted by name bytes (the kernel binary-searches across blocks
/// and within each), packed into blocks; each block holds its dirents (12 bytes each) then their
/// names, unterminated. The last block holds only what it needs (the directory's size ends there).
/// </summary>
internal static class ErofsDirectoryBlocks
{
    /// <summary>The content's size in bytes for entries whose names are <paramref name="nameLengths"/> long, in order.</summary>
    public static long Size(IEnumerable<int> nameLengths)
    {
        long full = 0;
        int used = 0;
        foreach (int length in nameLengths)
        {
            int need = ErofsConstants.DirentSize + length;
            if (used + need > ErofsConstants.BlockSize)
            {
                full++;
                used = 0;
            }
            used += need;
        }
        return full * ErofsConstants.BlockSize + used;
    }

    /// <summary>
    /// Encodes the entries (sorted) block by block into <paramref name="block"/>, calling
    /// <paramref name="onBlock"/> with each block's bytes: whole blocks, then the last one cut to its used length.
    /// </summary>
    public static async ValueTask EncodeAsync(IReadOnlyList<ErofsDirent> entries, byte[] block, Func<ReadOnlyMemory<byte>, bool, ValueTask> onBlock)
    {
        int first = 0;
        while (first < entries.Count)
        {
            int count = 0, used = 0;
            while (first + count < entries.Count && used + ErofsConstants.DirentSize + entries[first + count].Name.Length <= ErofsConstants.BlockSize)
            {
                used += ErofsConstants.DirentSize + entries[first + count].Name.Length;
                count++;
            }
            Array.Clear(block);
            int nameOffset = count * ErofsConstants.DirentSize;
            for (int i = 0; i < count; i++)
            {
                var entry = entries[first + i];
                var dirent = block.AsSpan(i * ErofsConstants.DirentSize);
                Put64(dirent, 0, entry.Nid);
                Put16(dirent, 8, nameOffset);
                dirent[10] = entry.FileType;
                entry.Name.CopyTo(block.AsSpan(nameOffset));
                nameOffset += entry.Name.Length;
            }
            first += count;
            bool last = first == entries.Count;
            await onBlock(block.AsMemory(0, last ? used : ErofsConstants.BlockSize), last).ConfigureAwait(false);
        }
    }
}
