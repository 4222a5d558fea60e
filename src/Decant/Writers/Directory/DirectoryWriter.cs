using Decant.Interop;
using Decant.Model;
using Decant.Tree;

namespace Decant.Writers.Directory;

/// <summary>
/// Writes a merged tree as a real directory. Every path inside the target is resolved by the kernel
/// (see <see cref="ConfinedRoot"/>), every object is created relative to its parent's descriptor,
/// and metadata is never applied through a symlink. File contents are staged inside the target while
/// layers are read and moved into place at commit. Disposing a writer that did not commit removes
/// everything it wrote: the whole target if it created it, otherwise the target's contents. With
/// <see cref="WriterOptions.Force"/>, a non-empty target is replaced only at the end of the
/// commit (the tree is built beside it and swapped in), so a failure leaves it as it was.
/// </summary>
internal sealed class DirectoryWriter : IRootfsWriter
{
    private readonly OutputTarget _target;
    private readonly StagingContentStore _store;
    private readonly OwnershipMode _ownership;
    private int _state;

    private const int Open = 0, Committing = 1, Committed = 2, Failed = 3, Disposed = 4;

    private DirectoryWriter(OutputTarget target, StagingContentStore store, OwnershipMode ownership)
    {
        _target = target;
        _store = store;
        _ownership = ownership;
    }

    /// <summary>Prepares the target (creating it, or checking it is empty, or emptying it with force) and the staging area.</summary>
    public static Task<DirectoryWriter> CreateAsync(DirectoryWriterOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.CheckOutput();
        cancellationToken.ThrowIfCancellationRequested();
        var target = OutputTarget.Prepare(options.Output, options.Force, cancellationToken);
        try
        {
            var store = StagingContentStore.Create(target.Root, options.Ownership);
            return Task.FromResult(new DirectoryWriter(target, store, options.Ownership));
        }
        catch
        {
            target.Undo(CancellationToken.None);
            target.Dispose();
            throw;
        }
    }

    /// <summary>Stages each file's bytes in a private directory inside the target, so commit only moves them into place.</summary>
    public IContentStore Content => _store;

    /// <summary>Xattrs that were left out under the xattr policy of <see cref="MetadataApplier"/> (rootless refusals, user.* on special files).</summary>
    public long SkippedXattrs { get; private set; }

    /// <summary>
    /// Set when removing what this writer left behind failed: the partial output of a failed run
    /// (during dispose, which does not throw), or the previous contents of a replaced target after a
    /// successful commit. The message names what was left and where.
    /// </summary>
    public DecantException? CleanupFailure { get; private set; }

    /// <summary>Creates the tree in the target (on a thread-pool thread), then applies metadata, directories deepest first and the root last. Commits once.</summary>
    /// <exception cref="InvalidOperationException">Commit was already called (even if it failed), or the writer was disposed.</exception>
    public Task<WriteSummary> CommitAsync(MergedTree tree, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(tree);
        if (Interlocked.CompareExchange(ref _state, Committing, Open) != Open)
        {
            throw new InvalidOperationException("a directory writer commits once, before it is disposed");
        }
        return Task.Run(() => Commit(tree, cancellationToken), cancellationToken);
    }

    /// <summary>Removes everything this writer wrote (unless it committed) and closes it.</summary>
    public ValueTask DisposeAsync()
    {
        var previous = Interlocked.Exchange(ref _state, Disposed);
        if (previous == Disposed)
        {
            return ValueTask.CompletedTask;
        }
        try
        {
            if (previous != Committed)
            {
                _target.Undo(CancellationToken.None);
            }
        }
        catch (DecantException e)
        {
            CleanupFailure = new DecantException(e.Kind, $"the partial output could not be removed: {e.Message}", e);
        }
        finally
        {
            _store.Dispose();
            _target.Dispose();
        }
        return ValueTask.CompletedTask;
    }

    private WriteSummary Commit(MergedTree tree, CancellationToken cancellationToken)
    {
        try
        {
            var summary = WriteTree(tree, cancellationToken);
            CleanupFailure = _target.Publish();
            Volatile.Write(ref _state, Committed);
            return summary;
        }
        catch
        {
            _ = Interlocked.CompareExchange(ref _state, Failed, Committing);
            throw;
        }
    }

    private WriteSummary WriteTree(MergedTree tree, CancellationToken cancellationToken)
    {
        var root = _target.Root;
        using var parents = new DirectoryHandleCache(root);
        using var materializer = new TreeMaterializer(root, _store, _ownership, parents);
        foreach (var step in tree.WalkSteps(withPaths: true))
        {
            cancellationToken.ThrowIfCancellationRequested();
            materializer.Create(step, cancellationToken);
        }
        materializer.Finish(cancellationToken);
        _store.RemoveDirectoriesNotTaken(cancellationToken);

        long skippedXattrs = ApplyToNonDirectories(materializer.OtherInodes, cancellationToken);
        _store.RemoveDirectory(cancellationToken);
        var metadata = new MetadataApplier(_ownership);

        // Deepest first, so a directory's times and a mode without write permission come after
        // everything inside it is finished; the root last.
        for (var i = materializer.Directories.Count - 1; i >= 0; i--)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var node = materializer.Directories[i];
            using var directory = root.OpenDirectoryForMetadata(node.Path);
            metadata.ApplyToDescriptor(directory, node.Inode, root.Describe(node.Path));
        }
        SkippedXattrs = skippedXattrs + metadata.SkippedXattrs + _store.SkippedXattrs;
        return materializer.Summary with { SkippedXattrs = SkippedXattrs };
    }

    /// <summary>The inodes per worker below which one thread applies all metadata (a thread costs more than it saves).</summary>
    private const int InodesPerWorker = 1024;

    /// <summary>
    /// Applies the metadata of every inode but the directories, over contiguous runs of the walk on
    /// every core (<see cref="ContiguousRuns"/>); every file is finished on its own. Returns the xattrs left out.
    /// </summary>
    private long ApplyToNonDirectories(List<TreeNode> nodes, CancellationToken cancellationToken)
    {
        long skipped = 0;
        ContiguousRuns.Run(nodes.Count, InodesPerWorker, (start, end) =>
        {
            using var parents = new DirectoryHandleCache(_target.Root);
            var metadata = new MetadataApplier(_ownership);
            for (int i = start; i < end; i++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                ApplyToNonDirectory(metadata, parents, nodes[i]);
            }
            Interlocked.Add(ref skipped, metadata.SkippedXattrs);
        }, cancellationToken);
        return skipped;
    }

    private void ApplyToNonDirectory(MetadataApplier metadata, DirectoryHandleCache parents, TreeNode node)
    {
        var display = _target.Root.Describe(node.Path);
        var parent = parents.Get(node.Parent!);
        if (node.Inode.Kind != NodeKind.RegularFile)
        {
            metadata.ApplyByName(parent, node.Name, node.Inode, display);
            return;
        }
        // O_NONBLOCK and the type check: if anything but our file is there now, neither block nor touch it.
        using var file = Posix.OpenAt(parent, node.Name, LibC.O_RDONLY | LibC.O_NOFOLLOW | LibC.O_NONBLOCK | LibC.O_NOCTTY, 0, display);
        if ((Posix.Stat(file, display).Mode & LibC.S_IFMT) != LibC.S_IFREG)
        {
            throw new DecantException(DecantErrorKind.OutputError, $"\"{display}\" is no longer the regular file the writer created");
        }
        metadata.ApplyToDescriptor(file, node.Inode, display);
    }
}
