using System.Text;
using Decant.Interop;
using Decant.Model;
using Decant.Tree;
using Microsoft.Win32.SafeHandles;

namespace Decant.Writers.Ext4;

/// <summary>
/// The commit of an <see cref="Ext4Writer"/>: numbers the inodes, writes directories, symlink and
/// xattr blocks and extent trees into free blocks, sizes the filesystem, then writes the journal,
/// inode tables, bitmaps, group descriptors and superblocks.
/// </summary>
internal sealed partial class ImageBuilder
{
    private const string LostAndFound = "lost+found";
    private const int LostAndFoundBlocks = 4;

    private readonly SafeFileHandle _file;
    private readonly BlockAllocator _allocator;
    private readonly GroupLayout _layout;
    private readonly Ext4WriterOptions _options;
    private readonly byte[] _uuid;
    private readonly uint[] _hashSeed;
    private readonly uint _seed;
    private readonly DirectoryHash _hash;
    private readonly BlockWriter _writer;
    private readonly List<string> _skippedXattrs = [];
    /// <summary>Inode records by number (index 0 and the unused reserved inodes are null).</summary>
    private readonly List<InodeRecord?> _inodes = [];
    private long _time;
    private readonly SummaryCounter _counter = new();

    public ImageBuilder(SafeFileHandle file, BlockAllocator allocator, GroupLayout layout, Ext4WriterOptions options, byte[] uuid, uint[] hashSeed)
    {
        _file = file;
        _allocator = allocator;
        _layout = layout;
        _options = options;
        _uuid = uuid;
        _hashSeed = hashSeed;
        _seed = Crc32C.Append(~0u, uuid);
        _hash = new DirectoryHash(hashSeed);
        _writer = new BlockWriter(file);
    }

    public IReadOnlyList<string> SkippedXattrs => _skippedXattrs;

    /// <summary>Lays out and writes everything but the files' data, which the store wrote.</summary>
    /// <param name="tree">The merged tree.</param>
    /// <param name="store">The store that wrote the files' data.</param>
    /// <param name="whenDataIsFinal">Called, when given, once the files' data no longer moves, before the rest is laid out, with the free blocks (first block and count), where commit may write.</param>
    /// <param name="cancellationToken">Stops the build.</param>
    public async Task<WriteSummary> BuildAsync(MergedTree tree, Ext4ContentStore store, Action<IEnumerable<(long Start, long Blocks)>>? whenDataIsFinal, CancellationToken cancellationToken)
    {
        // The first path of every inode, in the tree's walk order: where the inode is written; the
        // further paths of an inode are only entries in their directories.
        var nodes = new List<TreeNode>();
        foreach (var step in tree.WalkSteps(withPaths: false))
        {
            _counter.Count(step.Node, step.IsFirstPathOfInode);
            if (!step.IsFirstPathOfInode)
            {
                continue;
            }
            nodes.Add(step.Node);
            if (step.Node.Inode.Content is Ext4Content content)
            {
                content.InTree = true;
            }
        }
        store.ReleaseNotInTree();
        var free = _allocator.Seal();
        whenDataIsFinal?.Invoke(free.Select(run => (run.Start, run.Length)));
        foreach (var run in free.Concat(_allocator.FileAllocatedUnused))
        {
            await HolePunch.ClearAsync(_file, run.Start * Ext4Constants.BlockSize, run.Length * Ext4Constants.BlockSize, cancellationToken).ConfigureAwait(false);
        }
        bool addLostAndFound = tree.Root.GetChild(LostAndFound) is null;
        NumberInodes(nodes, addLostAndFound);
        _time = Math.Clamp(tree.Root.Inode.ModificationTime.Seconds, 0, (1L << 40) - 1);
        foreach (var node in nodes)
        {
            cancellationToken.ThrowIfCancellationRequested();
            await AddNodeAsync(node, addLostAndFound, cancellationToken).ConfigureAwait(false);
        }
        if (addLostAndFound)
        {
            await AddLostAndFoundAsync(tree.Root.Inode, cancellationToken).ConfigureAwait(false);
        }
        await _writer.FlushAsync(cancellationToken).ConfigureAwait(false);

        var plan = PlanFilesystem();
        await WriteFilesystemAsync(plan, cancellationToken).ConfigureAwait(false);
        return _counter.ToSummary();
    }

    private uint InodeCount => (uint)(_inodes.Count - 1);

    /// <summary>Numbers every inode in walk order of its first path (parents first, siblings in ordinal order): root 2, lost+found 11, the rest from there; each number is kept in <see cref="Inode.WalkOrdinal"/>.</summary>
    private void NumberInodes(List<TreeNode> firstPaths, bool addLostAndFound)
    {
        // Sized once: growing them would leave a trail of large garbage arrays behind.
        _inodes.Capacity = Ext4Constants.FirstInode + firstPaths.Count;
        for (int i = 0; i < Ext4Constants.FirstInode; i++)
        {
            _inodes.Add(null);
        }
        firstPaths[0].Inode.WalkOrdinal = (int)Ext4Constants.RootInode;
        if (addLostAndFound)
        {
            _inodes.Add(null); // 11, filled in by AddLostAndFoundAsync
        }
        for (int i = 1; i < firstPaths.Count; i++)
        {
            firstPaths[i].Inode.WalkOrdinal = _inodes.Count;
            _inodes.Add(null);
        }
        if ((ulong)_inodes.Count + (ulong)_options.FreeInodes > uint.MaxValue)
        {
            throw new DecantException(DecantErrorKind.OutputError, $"{_inodes.Count} inodes plus {_options.FreeInodes} free ones are more than ext4 holds");
        }
    }

    /// <summary>An inode's number, given by <see cref="NumberInodes"/>.</summary>
    private static uint Number(Inode inode) => (uint)inode.WalkOrdinal;

    /// <summary>Writes the inode whose first path is <paramref name="node"/>.</summary>
    private async ValueTask AddNodeAsync(TreeNode node, bool addLostAndFound, CancellationToken cancellationToken)
    {
        var inode = node.Inode;
        uint number = Number(inode);
        var record = NewRecord(inode);
        _inodes[(int)number] = record;
        switch (inode.Kind)
        {
            case NodeKind.RegularFile:
                await AddFileAsync(record, inode, number, cancellationToken).ConfigureAwait(false);
                break;
            case NodeKind.Directory:
                await AddDirectoryAsync(record, node, number, addLostAndFound && node.Parent is null, cancellationToken).ConfigureAwait(false);
                break;
            case NodeKind.Symlink:
                await AddSymlinkAsync(record, inode, number, cancellationToken).ConfigureAwait(false);
                break;
            case NodeKind.CharDevice or NodeKind.BlockDevice:
                DeviceNumbers.CheckLinux(inode, node.Path, "ext4");
                EncodeDevice(record.Block, inode.DeviceMajor, inode.DeviceMinor);
                break;
            case NodeKind.Fifo:
                break; // the inode is all of it
            default:
                throw new InvalidOperationException($"unexpected node kind {inode.Kind}");
        }
        await AddXattrsAsync(record, node, cancellationToken).ConfigureAwait(false);
    }

    private static InodeRecord NewRecord(Inode inode) => new()
    {
        Mode = (ushort)((uint)TypeBits(inode.Kind) | (inode.Mode & 0xFFF)),
        Uid = inode.Uid,
        Gid = inode.Gid,
        ModificationTime = inode.ModificationTime,
        AccessTime = inode.AccessTime,
        Links = inode.IsDirectory ? 2 : CheckedLinks(inode.LinkCount),
    };

    private static int CheckedLinks(int links) => links <= Ext4Constants.MaxLinks
        ? links
        : throw new DecantException(DecantErrorKind.OutputError, $"a file has {links} hardlinks; ext4 allows at most {Ext4Constants.MaxLinks}");

    private async ValueTask AddFileAsync(InodeRecord record, Inode inode, uint number, CancellationToken cancellationToken)
    {
        record.Flags = Ext4Constants.FlagExtents;
        IReadOnlyList<FileExtent> extents = [];
        if (inode.Content is not null)
        {
            var content = inode.Content as Ext4Content
                ?? throw new InvalidOperationException("the tree holds content that was not written by this ext4 writer's content store");
            extents = content.Extents;
            record.Size = (ulong)content.Size;
            record.BlockCount = content.AllocatedBlocks;
        }
        await WriteExtentTreeAsync(record, extents, number, cancellationToken).ConfigureAwait(false);
    }

    private async ValueTask AddDirectoryAsync(InodeRecord record, TreeNode node, uint number, bool withLostAndFound, CancellationToken cancellationToken)
    {
        var entries = new List<DirectoryEntry>(node.ChildCount + 1);
        int subdirectories = 0;
        if (withLostAndFound)
        {
            entries.Add(new DirectoryEntry(Encoding.UTF8.GetBytes(LostAndFound), Ext4Constants.FirstInode, Ext4Constants.TypeDirectory));
            subdirectories++;
        }
        TreeNode? tooLong = null; // the first, in byte order, of the names ext4 cannot hold
        foreach (var child in node.UnorderedChildren)
        {
            byte[] name = NameBytes.GetBytes(child.Name);
            if (name.Length > Ext4Constants.MaxNameLength)
            {
                tooLong = tooLong is null || NameBytes.Compare(child.Name, tooLong.Name) < 0 ? child : tooLong;
                continue;
            }
            entries.Add(new DirectoryEntry(name, Number(child.Inode), FileType(child.Inode.Kind)));
            if (child.Inode.IsDirectory)
            {
                subdirectories++;
            }
        }
        if (tooLong is not null)
        {
            int length = NameBytes.GetBytes(tooLong.Name).Length;
            throw new DecantException(DecantErrorKind.OutputError, $"\"{tooLong.Path}\": the name is {length} bytes; ext4 allows {Ext4Constants.MaxNameLength}");
        }
        // Names are unique in a directory, so this order is the same whatever order the children came in.
        entries.Sort((a, b) => a.Name.AsSpan().SequenceCompareTo(b.Name));
        uint parent = node.Parent is null ? Ext4Constants.RootInode : Number(node.Parent.Inode);
        var blocks = DirectoryBlocks.Build(number, parent, entries, _hash, Crc32C.InodeSeed(_seed, number), out bool indexed);
        await WriteDirectoryBlocksAsync(record, blocks, indexed, number, cancellationToken).ConfigureAwait(false);
        record.Links = 2 + subdirectories > Ext4Constants.MaxLinks ? 1 : 2 + subdirectories;
    }

    private async ValueTask AddLostAndFoundAsync(Inode root, CancellationToken cancellationToken)
    {
        var record = new InodeRecord
        {
            Mode = Ext4Constants.ModeDirectory | 0x1C0, // 0700
            ModificationTime = root.ModificationTime,
            AccessTime = root.ModificationTime,
            Links = 2,
        };
        _inodes[Ext4Constants.FirstInode] = record;
        uint seed = Crc32C.InodeSeed(_seed, Ext4Constants.FirstInode);
        var blocks = DirectoryBlocks.Build(Ext4Constants.FirstInode, Ext4Constants.RootInode, [], _hash, seed, out _);
        while (blocks.Count < LostAndFoundBlocks)
        {
            blocks.Add(DirectoryBlocks.EmptyLeaf(seed));
        }
        await WriteDirectoryBlocksAsync(record, blocks, indexed: false, Ext4Constants.FirstInode, cancellationToken).ConfigureAwait(false);
    }

    private async ValueTask WriteDirectoryBlocksAsync(InodeRecord record, List<byte[]> blocks, bool indexed, uint number, CancellationToken cancellationToken)
    {
        var extents = await WriteBlocksAsync(blocks, cancellationToken).ConfigureAwait(false);
        record.Flags = Ext4Constants.FlagExtents | (indexed ? Ext4Constants.FlagIndex : 0);
        record.Size = (ulong)blocks.Count * Ext4Constants.BlockSize;
        record.BlockCount = blocks.Count;
        await WriteExtentTreeAsync(record, extents, number, cancellationToken).ConfigureAwait(false);
    }

    private async ValueTask AddSymlinkAsync(InodeRecord record, Inode inode, uint number, CancellationToken cancellationToken)
    {
        byte[] target = NameBytes.GetBytes(inode.SymlinkTarget ?? "");
        if (target.Length is 0 or >= Ext4Constants.BlockSize)
        {
            throw new DecantException(DecantErrorKind.OutputError, $"inode {number}: a symlink target of {target.Length} bytes cannot be stored (1 to {Ext4Constants.BlockSize - 1})");
        }
        record.Size = (ulong)target.Length;
        if (target.Length < Ext4Constants.FastSymlinkLimit)
        {
            target.CopyTo(record.Block);
            return;
        }
        byte[] block = new byte[Ext4Constants.BlockSize];
        target.CopyTo(block, 0);
        var extents = await WriteBlocksAsync([block], cancellationToken).ConfigureAwait(false);
        record.Flags = Ext4Constants.FlagExtents;
        record.BlockCount = 1;
        await WriteExtentTreeAsync(record, extents, number, cancellationToken).ConfigureAwait(false);
    }

    private async ValueTask AddXattrsAsync(InodeRecord record, TreeNode node, CancellationToken cancellationToken)
    {
        var inode = node.Inode;
        if (inode.Xattrs.Count == 0)
        {
            return;
        }
        int skippedBefore = _skippedXattrs.Count;
        List<Ext4Xattr> converted;
        try
        {
            converted = XattrLayout.Convert(inode.Xattrs, _skippedXattrs);
            var (inline, block) = XattrLayout.Split(converted);
            record.InlineXattrs = inline;
            if (block.Count > 0)
            {
                var runs = new List<BlockRun>(1);
                _allocator.Allocate(1, runs);
                long at = runs[0].Start;
                await _writer.WriteAsync(at, XattrLayout.BuildBlock(block, at, _seed), cancellationToken).ConfigureAwait(false);
                record.XattrBlock = at;
                record.BlockCount++;
            }
        }
        catch (DecantException error)
        {
            throw new DecantException(error.Kind, $"\"{node.Path}\": {error.Message}", error);
        }
        for (int i = skippedBefore; i < _skippedXattrs.Count; i++)
        {
            _skippedXattrs[i] = $"{node.Path}: {_skippedXattrs[i]}";
        }
    }

    /// <summary>Writes blocks into newly allocated space and returns them as extents from logical block 0.</summary>
    private async ValueTask<List<FileExtent>> WriteBlocksAsync(List<byte[]> blocks, CancellationToken cancellationToken)
    {
        var runs = new List<BlockRun>();
        _allocator.Allocate(blocks.Count, runs);
        var extents = new List<FileExtent>(runs.Count);
        int logical = 0;
        foreach (var run in runs)
        {
            for (int i = 0; i < run.Length; i++)
            {
                await _writer.WriteAsync(run.Start + i, blocks[logical + i], cancellationToken).ConfigureAwait(false);
            }
            for (long done = 0; done < run.Length; done += Ext4Constants.MaxExtentLength)
            {
                int length = (int)Math.Min(Ext4Constants.MaxExtentLength, run.Length - done);
                extents.Add(new FileExtent((uint)(logical + done), run.Start + done, length));
            }
            logical += (int)run.Length;
        }
        return extents;
    }

    /// <summary>Fills i_block with the extent root and writes any tree blocks the extents need.</summary>
    private async ValueTask WriteExtentTreeAsync(InodeRecord record, IReadOnlyList<FileExtent> extents, uint number, CancellationToken cancellationToken)
    {
        int needed = ExtentTree.BlocksNeeded(extents.Count);
        var treeBlocks = new List<long>(needed);
        if (needed > 0)
        {
            var runs = new List<BlockRun>();
            _allocator.Allocate(needed, runs);
            foreach (var run in runs)
            {
                for (long b = run.Start; b < run.End; b++)
                {
                    treeBlocks.Add(b);
                }
            }
        }
        foreach (var (block, data) in ExtentTree.Build(extents, treeBlocks, Crc32C.InodeSeed(_seed, number), record.Block))
        {
            await _writer.WriteAsync(block, data, cancellationToken).ConfigureAwait(false);
        }
        record.BlockCount += needed;
    }

    /// <summary>The old 8:8 encoding in i_block[0] when it fits, else the new 12:20 one in i_block[1] (numbers checked by the caller).</summary>
    private static void EncodeDevice(Span<byte> iblock, uint major, uint minor)
    {
        if (major < 256 && minor < 256)
        {
            LittleEndian.Put32(iblock, 0, (major << 8) | minor);
        }
        else
        {
            LittleEndian.Put32(iblock, 4, (minor & 0xFF) | (major << 8) | ((minor & ~0xFFu) << 12));
        }
    }

    private static int TypeBits(NodeKind kind) => LinuxFileTypes.ModeBits(kind);

    private static byte FileType(NodeKind kind) => LinuxFileTypes.DirentType(kind);
}
