using Decant.Interop;
using Decant.Model;
using Decant.Tree;
using Microsoft.Win32.SafeHandles;

namespace Decant.Writers.Erofs;

/// <summary>
/// The commit of an <see cref="ErofsWriter"/>, and the writer's layout policy: after the streamed
/// file data come the blocks laid out at commit (directory blocks, last blocks that do not fit
/// inline, long symlinks: in freed runs first), then the shared xattr area, then the metadata area
/// with every inode in the tree's walk order (so the root is nid 0). Each inode is compact when that
/// loses nothing (its mtime is the build time, the most common mtime of the tree) and extended
/// otherwise; a record that fits in a block never crosses one, and a file's or directory's last
/// partial block goes inline after it when it fits. Xattrs that two or more inodes carry are shared.
/// </summary>
internal sealed class ErofsImageBuilder(SafeFileHandle file, ErofsBlockAllocator allocator, ErofsContentStore store, byte[] uuid)
{
    private readonly List<string> _skippedXattrs = [];
    private readonly SummaryCounter _counter = new();
    private readonly byte[] _block = new byte[ErofsConstants.BlockSize];
    private ErofsTailSpool.OrderedReader? _tails;
    /// <summary>Each directory's entries (null for an inode that is not one) by walk ordinal, in byte order as the walk met them, hardlinks included.</summary>
    private readonly List<List<TreeNode>?> _children = [];
    private uint _incompat;
    private bool _compressed;

    public IReadOnlyList<string> SkippedXattrs => _skippedXattrs;

    /// <summary>The list of no xattrs, never added to.</summary>
    private static readonly List<ErofsXattr> NoXattrs = [];

    /// <summary>
    /// One inode's plan: its record, its xattrs, and where its data goes. A plan is made for each
    /// inode twice, once to lay the image out and once to write it, and not kept: what commit keeps
    /// per inode is only its record's position and the first block laid out for it.
    /// </summary>
    private sealed class Plan(TreeNode node)
    {
        public TreeNode Node { get; } = node;
        public ErofsInodeRecord Inode { get; } = new();
        /// <summary>The xattrs shared and those inline (empty lists shared by every plan without xattrs).</summary>
        public List<ErofsXattr> Shared { get; set; } = NoXattrs;
        public List<ErofsXattr> Inline { get; set; } = NoXattrs;
        public int XattrSize { get; set; }
        /// <summary>Bytes of data inline after the xattrs (a last partial block).</summary>
        public int InlineLength { get; set; }
        /// <summary>Blocks laid out at commit for this inode (directory blocks, a last block, a symlink), from <see cref="DataStart"/>.</summary>
        public long DataBlocks { get; set; }
        public long DataStart { get; set; }
        /// <summary>For a chunk-based file: the chunk size in blocks as a power of two, the chunks, and the runs they map.</summary>
        public int ChunkBits { get; set; } = -1;
        public long ChunkCount { get; set; }
        public List<DataRun>? ChunkRuns { get; set; }
        /// <summary>Where the record starts in the metadata area.</summary>
        public long Position { get; set; }
        /// <summary>For a compressed file, its clusters' indexes: the bytes they take after the head.</summary>
        public long IndexBytes { get; set; }
        public long RecordSize => Inode.RecordSize + XattrSize + InlineLength + ChunkCount * ErofsConstants.BlockMapEntrySize + IndexBytes;
        public ulong Nid => (ulong)(Position / ErofsConstants.NidUnit);
        public int HeadSize => Inode.RecordSize + XattrSize;
        public bool Fits(int inline) => HeadSize + inline <= ErofsConstants.BlockSize;
    }

    /// <summary>What every plan is made from: the build time, and how many inodes carry each xattr.</summary>
    private sealed record PlanContext(Timestamp BuildTime, Dictionary<ErofsXattr, int> XattrUses);

    /// <summary>
    /// The LZ4 configuration after the superblock (with COMPR_CFGS): its length, then the sliding
    /// window (0: the default 64 KiB) and the largest physical cluster in blocks.
    /// </summary>
    private static byte[] Lz4Configuration(int maxClusterBlocks)
    {
        byte[] configuration = new byte[16];
        LittleEndian.Put16(configuration, 0, 14);
        LittleEndian.Put16(configuration, 4, maxClusterBlocks);
        return configuration;
    }

    /// <summary>Lays out and writes everything but the files' data, which the store wrote.</summary>
    /// <param name="tree">The merged tree.</param>
    /// <param name="maxClusterBlocks">The largest compressed cluster, in blocks.</param>
    /// <param name="whenDataIsFinal">Called, when given, once the files' data no longer moves, before the rest is laid out, with the free blocks (first block and count), where commit may write.</param>
    /// <param name="cancellationToken">Stops the build.</param>
    public async Task<WriteSummary> BuildAsync(MergedTree tree, int maxClusterBlocks, Action<IEnumerable<(long Start, long Blocks)>>? whenDataIsFinal, CancellationToken cancellationToken)
    {
        var nodes = new List<TreeNode>();
        foreach (var step in tree.WalkSteps(withPaths: false))
        {
            _counter.Count(step.Node, step.IsFirstPathOfInode);
            if (step.Node.Parent is { } parent)
            {
                _children[parent.Inode.WalkOrdinal]!.Add(step.Node);
            }
            if (!step.IsFirstPathOfInode)
            {
                continue;
            }
            step.Node.Inode.WalkOrdinal = nodes.Count;
            nodes.Add(step.Node);
            _children.Add(step.Node.Inode.IsDirectory ? new List<TreeNode>(step.Node.ChildCount) : null);
            switch (step.Node.Inode.Content)
            {
                case ErofsContent content:
                    content.InTree = true;
                    break;
                case { }:
                    throw new InvalidOperationException("the tree holds content that was not written by this EROFS writer's content store");
            }
        }
        store.ReleaseNotInTree();
        _tails = store.OpenTailReader(nodes.Count, i => nodes[i].Inode.Content is ErofsContent { Clusters: null, TailSpoolOffset: >= 0 } content
            ? (content.TailSpoolOffset, content.TailLength)
            : (-1, 0));
        allocator.Seal();
        whenDataIsFinal?.Invoke(allocator.FreeRuns.Select(run => (run.Physical, run.Blocks)));

        var context = new PlanContext(BuildTime(nodes), CountXattrs(nodes, out var shared));
        // Laid out inode by inode in walk order: where each record goes, and the blocks each needs.
        var positions = new long[nodes.Count];
        var dataStarts = new uint[nodes.Count];
        long metaBytes = 0;
        for (int i = 0; i < nodes.Count; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var plan = MakePlan(nodes[i], i, context);
            if (plan.DataBlocks > 0)
            {
                dataStarts[i] = (uint)allocator.Allocate(plan.DataBlocks);
            }
            positions[i] = metaBytes = PlaceRecord(metaBytes, plan.RecordSize, ErofsConstants.NidUnit);
            metaBytes += plan.RecordSize;
        }
        metaBytes = Math.Max(metaBytes, 1);
        var sharedIds = LayOutSharedXattrs(shared, out long sharedBytes);
        long xattrStart = sharedBytes == 0 ? 0 : allocator.AllocateFresh(BlocksFor(sharedBytes));
        long metaStart = allocator.AllocateFresh(BlocksFor(metaBytes));
        long totalBlocks = allocator.End;

        var blocks = new BlockWriter(file);
        var meta = new SequentialImageWriter(file, metaStart << ErofsConstants.BlockShift);
        for (int i = 0; i < nodes.Count; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var plan = MakePlan(nodes[i], i, context);
            plan.Position = positions[i];
            plan.DataStart = dataStarts[i];
            await WriteInodeAsync(plan, positions, sharedIds, blocks, meta, cancellationToken).ConfigureAwait(false);
        }
        await meta.PadToAsync(BlocksFor(metaBytes) << ErofsConstants.BlockShift, cancellationToken).ConfigureAwait(false);
        await meta.FlushAsync(cancellationToken).ConfigureAwait(false);
        await WriteSharedXattrsAsync(shared, sharedIds, xattrStart, cancellationToken).ConfigureAwait(false);
        await blocks.FlushAsync(cancellationToken).ConfigureAwait(false);

        var superblock = new ErofsSuperblock
        {
            CompressionAlgorithms = _compressed ? (ushort)1 : (ushort)0, // bit 0: LZ4
            Trailer = _compressed ? Lz4Configuration(maxClusterBlocks) : [],
            FeatureCompat = ErofsConstants.CompatSuperblockChecksum | ErofsConstants.CompatMtime,
            FeatureIncompat = _incompat,
            RootNid = checked((ushort)(positions[0] / ErofsConstants.NidUnit)),
            InodeCount = (ulong)nodes.Count,
            BuildTimeSeconds = context.BuildTime.Seconds,
            BuildTimeNanoseconds = context.BuildTime.Nanoseconds,
            Blocks = (uint)totalBlocks,
            MetaBlockAddress = (uint)metaStart,
            XattrBlockAddress = (uint)xattrStart,
            Uuid = uuid,
        };
        await RandomAccess.WriteAsync(file, superblock.ToBlock(), 0, cancellationToken).ConfigureAwait(false);
        RandomAccess.SetLength(file, totalBlocks << ErofsConstants.BlockShift);
        foreach (var run in allocator.FreeRuns)
        {
            await HolePunch.ClearAsync(file, run.Physical << ErofsConstants.BlockShift, run.Blocks << ErofsConstants.BlockShift, cancellationToken).ConfigureAwait(false);
        }
        return _counter.ToSummary();
    }

    private static long BlocksFor(long bytes) => (bytes + ErofsConstants.BlockSize - 1) >> ErofsConstants.BlockShift;

    /// <summary>
    /// The build time compact inodes take: the tree's most common mtime (the earliest of equally
    /// common ones; only times from 1970 on), so as many inodes as can be are compact.
    /// </summary>
    private static Timestamp BuildTime(List<TreeNode> nodes)
    {
        var counts = new Dictionary<Timestamp, int>();
        foreach (var node in nodes)
        {
            var time = node.Inode.ModificationTime;
            if (time.Seconds >= 0)
            {
                counts[time] = counts.GetValueOrDefault(time) + 1;
            }
        }
        return counts.Count == 0
            ? Timestamp.Epoch
            : counts.OrderByDescending(c => c.Value).ThenBy(c => c.Key.Seconds).ThenBy(c => c.Key.Nanoseconds).First().Key;
    }

    /// <summary>Each inode's xattrs as EROFS holds them, by walk ordinal (converted once, by <see cref="CountXattrs"/>).</summary>
    private readonly List<List<ErofsXattr>> _xattrs = [];

    /// <summary>
    /// Converts every inode's xattrs (noting those EROFS cannot hold, and keeping the rest for the
    /// plans) and counts how many inodes carry each; <paramref name="shared"/> gets those two or
    /// more carry, in order of first use.
    /// </summary>
    private Dictionary<ErofsXattr, int> CountXattrs(List<TreeNode> nodes, out List<ErofsXattr> shared)
    {
        var uses = new Dictionary<ErofsXattr, int>();
        var order = new List<ErofsXattr>();
        foreach (var node in nodes)
        {
            int skippedBefore = _skippedXattrs.Count;
            var converted = ConvertXattrs(node, _skippedXattrs);
            _xattrs.Add(converted);
            foreach (var xattr in converted)
            {
                if (uses.TryGetValue(xattr, out int count))
                {
                    uses[xattr] = count + 1;
                }
                else
                {
                    uses.Add(xattr, 1);
                    order.Add(xattr);
                }
            }
            for (int i = skippedBefore; i < _skippedXattrs.Count; i++)
            {
                _skippedXattrs[i] = $"{node.Path}: {_skippedXattrs[i]}";
            }
        }
        shared = order.Where(x => uses[x] > 1).ToList();
        return uses;
    }

    /// <summary>An inode's xattrs as EROFS holds them; those it cannot are named in <paramref name="skipped"/>.</summary>
    private static List<ErofsXattr> ConvertXattrs(TreeNode node, List<string> skipped)
    {
        if (node.Inode.Xattrs.Count == 0)
        {
            return NoXattrs;
        }
        try
        {
            return ErofsXattrs.Convert(node.Inode.Xattrs, skipped);
        }
        catch (DecantException error)
        {
            throw new DecantException(error.Kind, $"\"{node.Path}\": {error.Message}", error);
        }
    }

    /// <summary>An inode's plan: its xattrs split (one two or more inodes carry is shared, up to the most an inode may share), its record filled in and its data layout decided.</summary>
    private Plan MakePlan(TreeNode node, int ordinal, PlanContext context)
    {
        var plan = new Plan(node);
        var xattrs = _xattrs[ordinal];
        if (xattrs.Count > 0)
        {
            (plan.Shared, plan.Inline) = ([], []);
            foreach (var xattr in xattrs)
            {
                (context.XattrUses[xattr] > 1 && plan.Shared.Count < ErofsConstants.MaxSharedXattrs ? plan.Shared : plan.Inline).Add(xattr);
            }
        }
        PlanInode(plan, (uint)(ordinal + 1), context.BuildTime);
        return plan;
    }

    /// <summary>Ids of the shared xattrs (their offsets from the area's start in 4-byte units); an entry that fits in a block never crosses one.</summary>
    private static Dictionary<ErofsXattr, uint> LayOutSharedXattrs(List<ErofsXattr> shared, out long bytes)
    {
        var ids = new Dictionary<ErofsXattr, uint>(shared.Count);
        long at = 0;
        foreach (var xattr in shared)
        {
            at = PlaceRecord(at, xattr.EntrySize, alignment: 4);
            ids.Add(xattr, checked((uint)(at / 4)));
            at += xattr.EntrySize;
        }
        bytes = at;
        return ids;
    }

    private async ValueTask WriteSharedXattrsAsync(List<ErofsXattr> shared, Dictionary<ErofsXattr, uint> ids, long start, CancellationToken cancellationToken)
    {
        if (shared.Count == 0)
        {
            return;
        }
        var area = new SequentialImageWriter(file, start << ErofsConstants.BlockShift);
        byte[] entry = [];
        foreach (var xattr in shared)
        {
            await area.PadToAsync(ids[xattr] * 4L, cancellationToken).ConfigureAwait(false);
            if (entry.Length < xattr.EntrySize)
            {
                entry = new byte[xattr.EntrySize];
            }
            xattr.WriteTo(entry);
            await area.WriteAsync(entry.AsMemory(0, xattr.EntrySize), cancellationToken).ConfigureAwait(false);
        }
        await area.PadToAsync((area.Position + ErofsConstants.BlockSize - 1) & ~(long)(ErofsConstants.BlockSize - 1), cancellationToken).ConfigureAwait(false);
        await area.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Where a record of <paramref name="size"/> bytes goes at or after <paramref name="at"/>: aligned, and in one block when it fits in one, else from a block's start.</summary>
    private static long PlaceRecord(long at, long size, int alignment)
    {
        at = (at + alignment - 1) & ~(long)(alignment - 1);
        long offset = at & (ErofsConstants.BlockSize - 1);
        if (offset != 0 && (size > ErofsConstants.BlockSize || offset + size > ErofsConstants.BlockSize))
        {
            at += ErofsConstants.BlockSize - offset;
        }
        return at;
    }

    /// <summary>Fills in the inode record and decides the data layout (all but the block addresses laid out at commit).</summary>
    private void PlanInode(Plan plan, uint number, Timestamp buildTime)
    {
        var node = plan.Node;
        var inode = node.Inode;
        var record = plan.Inode;
        record.InodeNumber = number;
        record.Mode = (ushort)((uint)LinuxFileTypes.ModeBits(inode.Kind) | (inode.Mode & 0xFFF));
        record.Uid = Owner(inode.Uid, node, "user");
        record.Gid = Owner(inode.Gid, node, "group");
        record.ModificationTime = inode.ModificationTime;
        long directorySize = 0;
        byte[]? target = null;
        switch (inode.Kind)
        {
            case NodeKind.Directory:
                directorySize = DirectorySize(node, out int subdirectories);
                record.Links = (uint)(2 + subdirectories);
                record.Size = (ulong)directorySize;
                break;
            case NodeKind.Symlink:
                target = NameBytes.GetBytes(inode.SymlinkTarget ?? "");
                if (target.Length is 0 or >= ErofsConstants.BlockSize)
                {
                    throw new DecantException(DecantErrorKind.OutputError, $"\"{node.Path}\": a symlink target of {target.Length} bytes cannot be stored (1 to {ErofsConstants.BlockSize - 1})");
                }
                record.Links = (uint)inode.LinkCount;
                record.Size = (ulong)target.Length;
                break;
            case NodeKind.CharDevice or NodeKind.BlockDevice:
                DeviceNumbers.CheckLinux(inode, node.Path, "EROFS");
                record.Union = ErofsInodeRecord.EncodeDevice(inode.DeviceMajor, inode.DeviceMinor);
                record.Links = (uint)inode.LinkCount;
                break;
            default:
                record.Links = (uint)inode.LinkCount;
                record.Size = (ulong)inode.Size;
                break;
        }
        record.Extended = !ErofsInodeRecord.FitsCompact(inode.ModificationTime, buildTime, record.Uid, record.Gid, record.Links, record.Size);
        plan.XattrSize = ErofsXattrs.BodySize(plan.Shared.Count, plan.Inline);
        record.XattrCount = plan.XattrSize == 0 ? (ushort)0 : ErofsXattrs.Count(plan.XattrSize, node.Path);
        switch (inode.Kind)
        {
            case NodeKind.RegularFile:
                PlanFile(plan, inode.Content as ErofsContent);
                break;
            case NodeKind.Directory:
                PlanBytes(plan, directorySize);
                break;
            case NodeKind.Symlink:
                PlanBytes(plan, target!.Length);
                break;
            default:
                record.Layout = ErofsConstants.LayoutFlatPlain;
                break;
        }
    }

    private static uint Owner(long id, TreeNode node, string what) => id is >= 0 and <= uint.MaxValue
        ? (uint)id
        : throw new DecantException(DecantErrorKind.OutputError, $"\"{node.Path}\": the {what} id {id} does not fit EROFS's 32 bits");

    /// <summary>Content written at commit (a directory's entries, a symlink's target): whole blocks, and the last partial one inline when it fits.</summary>
    private static void PlanBytes(Plan plan, long size)
    {
        int tail = (int)(size & (ErofsConstants.BlockSize - 1));
        if (tail > 0 && plan.Fits(tail))
        {
            plan.Inode.Layout = ErofsConstants.LayoutFlatInline;
            plan.InlineLength = tail;
            plan.DataBlocks = size >> ErofsConstants.BlockShift;
        }
        else
        {
            plan.Inode.Layout = ErofsConstants.LayoutFlatPlain;
            plan.DataBlocks = BlocksFor(size);
        }
    }

    /// <summary>
    /// A regular file: contiguous data stays flat (its last partial block inline when it fits, in a
    /// block of its own laid out now when the file has no whole blocks); a file with holes, or whose
    /// last block fits neither, is chunk-based.
    /// </summary>
    private void PlanFile(Plan plan, ErofsContent? content)
    {
        var record = plan.Inode;
        record.Layout = ErofsConstants.LayoutFlatPlain;
        if (content is null || content.Size == 0)
        {
            return;
        }
        if (content.Clusters is { } clusters)
        {
            record.Layout = ErofsConstants.LayoutCompressedFull;
            record.Union = (uint)content.CompressedBlocks;
            plan.IndexBytes = ErofsClusterIndexes.Size(plan.HeadSize, BlocksFor(content.Size));
            _incompat |= ErofsConstants.IncompatZeroPadding | ErofsConstants.IncompatCompressionConfigs;
            _compressed = true;
            return;
        }
        int tail = content.TailLength;
        if (content.IsContiguous)
        {
            record.Union = content.WholeBlocks > 0 ? (uint)content.Runs[0].Physical : 0;
            if (tail == 0)
            {
                return;
            }
            if (plan.Fits(tail))
            {
                record.Layout = ErofsConstants.LayoutFlatInline;
                plan.InlineLength = tail;
                return;
            }
            if (content.WholeBlocks == 0)
            {
                plan.DataBlocks = 1;
                return;
            }
        }
        var runs = new List<DataRun>(content.Runs);
        if (tail > 0 && content.TailSpoolOffset >= 0)
        {
            plan.DataBlocks = 1;
            runs.Add(new DataRun(content.WholeBlocks, 0, 1)); // its block is laid out with the rest
        }
        long totalBlocks = BlocksFor(content.Size);
        record.Layout = ErofsConstants.LayoutChunkBased;
        plan.ChunkRuns = runs;
        plan.ChunkBits = ErofsChunkMap.ChooseBlockBits(runs, totalBlocks);
        plan.ChunkCount = ErofsChunkMap.ChunkCount(totalBlocks, plan.ChunkBits);
        record.Union = (uint)plan.ChunkBits;
        _incompat |= ErofsConstants.IncompatChunkedFile;
    }

    /// <summary>The size of a directory's entries (with <c>.</c> and <c>..</c>), and how many of its children are directories.</summary>
    private long DirectorySize(TreeNode node, out int subdirectories)
    {
        subdirectories = _children[node.Inode.WalkOrdinal]!.Count(c => c.Inode.IsDirectory);
        return ErofsDirectoryBlocks.Size(SortedEntries(node).Select(e => NameLength(e.Name, node)));
    }

    private static int NameLength(string name, TreeNode directory)
    {
        int length = NameBytes.GetByteCount(name);
        return length <= ErofsConstants.MaxNameLength
            ? length
            : throw new DecantException(DecantErrorKind.OutputError, $"\"{(directory.Path.Length == 0 ? "" : directory.Path + "/")}{NameBytes.Escape(name)}\": the name is {length} bytes; EROFS allows {ErofsConstants.MaxNameLength}");
    }

    /// <summary>
    /// A directory's entries in name-byte order: its children (as the walk met them, so already in
    /// that order), with <c>.</c> (Child null) and <c>..</c> merged in where they sort.
    /// </summary>
    private List<(string Name, TreeNode? Child)> SortedEntries(TreeNode node)
    {
        var children = _children[node.Inode.WalkOrdinal]!;
        var entries = new List<(string Name, TreeNode? Child)>(children.Count + 2);
        (string Name, TreeNode? Child)[] specials = [(".", null), ("..", node.Parent ?? node)];
        int placed = 0;
        foreach (var child in children)
        {
            while (placed < specials.Length && NameBytes.Compare(specials[placed].Name, child.Name) < 0)
            {
                entries.Add(specials[placed++]);
            }
            entries.Add((child.Name, child));
        }
        while (placed < specials.Length)
        {
            entries.Add(specials[placed++]);
        }
        return entries;
    }

    /// <summary>Writes an inode's data laid out at commit, then its record (inode, xattrs, inline data, block map) in the metadata area.</summary>
    private async ValueTask WriteInodeAsync(Plan plan, long[] positions, Dictionary<ErofsXattr, uint> sharedIds, BlockWriter blocks, SequentialImageWriter meta, CancellationToken cancellationToken)
    {
        var inode = plan.Node.Inode;
        ReadOnlyMemory<byte> inline = default;
        switch (inode.Kind)
        {
            case NodeKind.Directory:
                plan.Inode.Union = plan.DataBlocks > 0 ? (uint)plan.DataStart : 0;
                inline = await WriteDirectoryAsync(plan, positions, blocks, cancellationToken).ConfigureAwait(false);
                break;
            case NodeKind.Symlink:
                byte[] target = NameBytes.GetBytes(inode.SymlinkTarget!);
                if (plan.InlineLength > 0)
                {
                    inline = target;
                }
                else
                {
                    plan.Inode.Union = (uint)plan.DataStart;
                    Array.Clear(_block);
                    target.CopyTo(_block, 0);
                    await blocks.WriteAsync(plan.DataStart, _block, cancellationToken).ConfigureAwait(false);
                }
                break;
            case NodeKind.RegularFile when inode.Content is ErofsContent { Clusters: null } content:
                inline = await WriteFileTailAsync(plan, content, blocks, cancellationToken).ConfigureAwait(false);
                break;
        }

        byte[] head = plan.HeadSize <= _head.Length ? _head : new byte[plan.HeadSize];
        plan.Inode.WriteTo(head);
        if (plan.XattrSize > 0)
        {
            ErofsXattrs.WriteBody(head.AsSpan(plan.Inode.RecordSize), [.. plan.Shared.Select(x => sharedIds[x])], plan.Inline);
        }
        await meta.PadToAsync(plan.Position, cancellationToken).ConfigureAwait(false);
        await meta.WriteAsync(head.AsMemory(0, plan.HeadSize), cancellationToken).ConfigureAwait(false);
        await meta.WriteAsync(inline, cancellationToken).ConfigureAwait(false);
        if (inode.Content is ErofsContent { Clusters: { } clusters } compressed)
        {
            await meta.WriteAsync(ErofsClusterIndexes.Prologue(plan.HeadSize), cancellationToken).ConfigureAwait(false);
            foreach (var cluster in clusters)
            {
                byte[] indexes = cluster.Lclusters * ErofsClusterIndexes.IndexSize <= _block.Length ? _block : new byte[cluster.Lclusters * ErofsClusterIndexes.IndexSize];
                ErofsClusterIndexes.Encode(cluster, compressed.CompressedStart + cluster.Offset, indexes);
                await meta.WriteAsync(indexes.AsMemory(0, cluster.Lclusters * ErofsClusterIndexes.IndexSize), cancellationToken).ConfigureAwait(false);
            }
        }
        if (plan.ChunkRuns is { } runs)
        {
            int runIndex = 0;
            const int PerBlock = ErofsConstants.BlockSize / ErofsConstants.BlockMapEntrySize;
            for (long chunk = 0; chunk < plan.ChunkCount; chunk += PerBlock)
            {
                int count = (int)Math.Min(PerBlock, plan.ChunkCount - chunk);
                ErofsChunkMap.Encode(runs, plan.ChunkBits, chunk, _block.AsSpan(0, count * ErofsConstants.BlockMapEntrySize), ref runIndex);
                await meta.WriteAsync(_block.AsMemory(0, count * ErofsConstants.BlockMapEntrySize), cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private readonly byte[] _head = new byte[ErofsConstants.BlockSize];
    private readonly byte[] _tail = new byte[ErofsConstants.BlockSize];

    /// <summary>A file's last partial block: returned to go inline, or written into its block laid out at commit.</summary>
    private async ValueTask<ReadOnlyMemory<byte>> WriteFileTailAsync(Plan plan, ErofsContent content, BlockWriter blocks, CancellationToken cancellationToken)
    {
        if (plan.InlineLength == 0 && plan.DataBlocks == 0)
        {
            return default;
        }
        // The tail as spooled, or none when it was all zero.
        var spooled = await _tails!.ReadAsync(plan.Node.Inode.WalkOrdinal, cancellationToken).ConfigureAwait(false);
        int length = plan.InlineLength > 0 ? plan.InlineLength : ErofsConstants.BlockSize;
        spooled.CopyTo(_tail);
        _tail.AsSpan(spooled.Length, length - spooled.Length).Clear();
        if (plan.InlineLength > 0)
        {
            return _tail.AsMemory(0, length);
        }
        await blocks.WriteAsync(plan.DataStart, _tail, cancellationToken).ConfigureAwait(false);
        if (plan.ChunkRuns is { } runs)
        {
            runs[^1] = runs[^1] with { Physical = plan.DataStart };
        }
        else
        {
            plan.Inode.Union = (uint)plan.DataStart;
        }
        return default;
    }

    /// <summary>Writes a directory's whole blocks and returns its last partial block when it goes inline.</summary>
    private async ValueTask<ReadOnlyMemory<byte>> WriteDirectoryAsync(Plan plan, long[] positions, BlockWriter blocks, CancellationToken cancellationToken)
    {
        var node = plan.Node;
        var entries = SortedEntries(node).Select(e => new ErofsDirent(
            NameBytes.GetBytes(e.Name),
            e.Child is null ? plan.Nid : (ulong)(positions[e.Child.Inode.WalkOrdinal] / ErofsConstants.NidUnit),
            e.Child is null ? LinuxFileTypes.DirentType(NodeKind.Directory) : LinuxFileTypes.DirentType(e.Child.Inode.Kind))).ToList();
        long block = plan.DataStart;
        int inlineLength = 0;
        await ErofsDirectoryBlocks.EncodeAsync(entries, _block, async (data, last) =>
        {
            if (last && plan.InlineLength > 0)
            {
                data.CopyTo(_tail);
                inlineLength = data.Length;
                return;
            }
            await blocks.WriteAsync(block++, _block, cancellationToken).ConfigureAwait(false);
        }).ConfigureAwait(false);
        return _tail.AsMemory(0, inlineLength);
    }
}
