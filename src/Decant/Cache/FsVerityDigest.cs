using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Decant.Cache;

/// <summary>
/// Computes a file's fs-verity digest in userspace, as the kernel would after
/// <c>FS_IOC_ENABLE_VERITY</c> with SHA-256, 4096-byte blocks and no salt (the parameters composefs
/// uses): the SHA-256 of the 256-byte fs-verity descriptor that holds the file size and the root
/// of the Merkle tree over the content. The cache names content objects by it, so the same store
/// can back composefs without rehashing. Streaming: memory is one pending block per tree level.
/// </summary>
internal sealed class FsVerityDigest
{
    private const int BlockSize = 4096;
    private const int HashSize = 32;
    private const int DescriptorSize = 256;

    /// <summary>Pending hashes of each tree level (level 0: hashes of data blocks), one partial block each.</summary>
    private readonly List<(byte[] Block, int Used, long Count)> _levels = [];
    private readonly byte[] _dataBlock = new byte[BlockSize];
    private int _dataUsed;
    private long _size;
    private readonly List<byte[]> _zeroHashes = [];

    /// <summary>Adds the next bytes of the content.</summary>
    public void Append(ReadOnlySpan<byte> data)
    {
        _size += data.Length;
        while (!data.IsEmpty)
        {
            if (_dataUsed == 0 && data.Length >= BlockSize)
            {
                // Whole blocks are hashed where they lie: no copy.
                HashBlockInto(0, data[..BlockSize]);
                data = data[BlockSize..];
                continue;
            }
            int take = Math.Min(BlockSize - _dataUsed, data.Length);
            data[..take].CopyTo(_dataBlock.AsSpan(_dataUsed));
            _dataUsed += take;
            data = data[take..];
            if (_dataUsed == BlockSize)
            {
                HashBlockInto(0, _dataBlock);
                _dataUsed = 0;
            }
        }
    }

    /// <summary>
    /// Adds <paramref name="count"/> zero bytes (a hole) in time logarithmic in the count: whole
    /// subtrees of zeros hash alike, so a 15 TiB sparse file costs no more than a small one.
    /// </summary>
    public void AppendZeros(long count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if (_dataUsed > 0)
        {
            int take = (int)Math.Min(BlockSize - _dataUsed, count);
            Append(new byte[take]);
            count -= take;
            if (count == 0)
            {
                return;
            }
        }
        _size += count;
        AddZeroHashes(0, count / BlockSize);
        int rest = (int)(count % BlockSize);
        _dataBlock.AsSpan(0, rest).Clear();
        _dataUsed = rest;
    }

    /// <summary>The digest of everything appended, as <c>sha256:HEX</c> (what <c>fsverity digest</c> prints).</summary>
    public string Finish()
    {
        Span<byte> root = stackalloc byte[HashSize];
        if (_size == 0)
        {
            root.Clear();
        }
        else
        {
            if (_dataUsed > 0)
            {
                _dataBlock.AsSpan(_dataUsed).Clear();
                HashBlockInto(0, _dataBlock);
                _dataUsed = 0;
            }
            // Each level is closed from the bottom up; the first level with one hash in all, and
            // nothing above it, holds the root (a one-block file's root is its block's hash).
            for (int level = 0; ; level++)
            {
                var (block, used, count) = _levels[level];
                if (count == 1 && level == _levels.Count - 1)
                {
                    block.AsSpan(0, HashSize).CopyTo(root);
                    break;
                }
                if (used > 0)
                {
                    block.AsSpan(used).Clear();
                    _levels[level] = (block, 0, count);
                    HashBlockInto(level + 1, block);
                }
            }
        }

        Span<byte> descriptor = stackalloc byte[DescriptorSize];
        descriptor.Clear();
        descriptor[0] = 1; // version
        descriptor[1] = 1; // FS_VERITY_HASH_ALG_SHA256
        descriptor[2] = 12; // log2 of the block size
        BinaryPrimitives.WriteUInt64LittleEndian(descriptor[8..], (ulong)_size);
        root.CopyTo(descriptor[16..]);
        return "sha256:" + Convert.ToHexStringLower(SHA256.HashData(descriptor));
    }

    /// <summary>The fs-verity digest of a whole file, read from its start.</summary>
    public static async Task<string> OfFileAsync(string path, CancellationToken cancellationToken)
    {
        var digest = new FsVerityDigest();
        await using var file = new FileStream(path, new FileStreamOptions { Mode = FileMode.Open, Access = FileAccess.Read, Options = FileOptions.Asynchronous | FileOptions.SequentialScan, BufferSize = 0 });
        byte[] buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(1 << 20);
        try
        {
            int read;
            while ((read = await file.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
            {
                digest.Append(buffer.AsSpan(0, read));
            }
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
        return digest.Finish();
    }

    /// <summary>Hashes one full block and adds the hash to <paramref name="level"/>, closing that level's block when it fills.</summary>
    private void HashBlockInto(int level, ReadOnlySpan<byte> block)
    {
        Span<byte> hash = stackalloc byte[HashSize];
        SHA256.HashData(block, hash);
        AddHash(level, hash);
    }

    /// <summary>
    /// Adds <paramref name="count"/> hashes of all-zero subtrees to <paramref name="level"/>: one by
    /// one until the level's pending block is empty, then each 128 of them at once as one zero
    /// subtree of the level above.
    /// </summary>
    private void AddZeroHashes(int level, long count)
    {
        const int HashesPerBlock = BlockSize / HashSize;
        while (count > 0 && (level < _levels.Count && _levels[level].Used != 0))
        {
            AddHash(level, ZeroSubtreeHash(level));
            count--;
        }
        long groups = count / HashesPerBlock;
        if (groups > 0)
        {
            if (level == _levels.Count)
            {
                _levels.Add((new byte[BlockSize], 0, 0));
            }
            var (pending, used, total) = _levels[level];
            _levels[level] = (pending, used, total + groups * HashesPerBlock);
            AddZeroHashes(level + 1, groups);
        }
        for (long i = groups * HashesPerBlock; i < count; i++)
        {
            AddHash(level, ZeroSubtreeHash(level));
        }
    }

    /// <summary>The hash at <paramref name="level"/> of a subtree whose data is all zeros (level 0: one zero block).</summary>
    private byte[] ZeroSubtreeHash(int level)
    {
        while (_zeroHashes.Count <= level)
        {
            byte[] block = new byte[BlockSize];
            if (_zeroHashes.Count > 0)
            {
                for (int offset = 0; offset < BlockSize; offset += HashSize)
                {
                    _zeroHashes[^1].CopyTo(block, offset);
                }
            }
            _zeroHashes.Add(SHA256.HashData(block));
        }
        return _zeroHashes[level];
    }

    /// <summary>Adds one hash to <paramref name="level"/>, closing that level's block when it fills.</summary>
    private void AddHash(int level, ReadOnlySpan<byte> hash)
    {
        if (level == _levels.Count)
        {
            _levels.Add((new byte[BlockSize], 0, 0));
        }
        var (pending, used, count) = _levels[level];
        hash.CopyTo(pending.AsSpan(used));
        used += HashSize;
        count++;
        _levels[level] = (pending, used == BlockSize ? 0 : used, count);
        if (used == BlockSize)
        {
            HashBlockInto(level + 1, pending);
        }
    }
}
