using Decant.Tree;

namespace Decant.Writers;

/// <summary>
/// Counts what a writer writes, path by path, into its <see cref="WriteSummary"/>: the same
/// counting for every format, so the summaries of one tree agree wherever they can.
/// </summary>
internal sealed class SummaryCounter
{
    private long _directories, _files, _symlinks, _hardlinks, _devices, _fifos, _skippedDevices, _contentBytes;

    /// <summary>
    /// Counts one written path: a further path to an inode as a hardlink; a first path by its
    /// inode's kind, a regular file with its size. The root directory is not counted.
    /// </summary>
    /// <param name="node">The path written.</param>
    /// <param name="firstPathOfInode">Whether the inode was written here (<see cref="TreeStep.IsFirstPathOfInode"/>), not linked to.</param>
    public void Count(TreeNode node, bool firstPathOfInode)
    {
        if (!firstPathOfInode)
        {
            _hardlinks++;
            return;
        }
        var inode = node.Inode;
        switch (inode.Kind)
        {
            case NodeKind.Directory:
                _directories += node.Parent is null ? 0 : 1;
                break;
            case NodeKind.RegularFile:
                _files++;
                _contentBytes += inode.Size;
                break;
            case NodeKind.Symlink:
                _symlinks++;
                break;
            case NodeKind.CharDevice or NodeKind.BlockDevice:
                _devices++;
                break;
            case NodeKind.Fifo:
                _fifos++;
                break;
        }
    }

    /// <summary>Counts a path of a device node that could not be created (rootless) and was left out.</summary>
    public void CountSkippedDevice() => _skippedDevices++;

    /// <summary>The counts so far.</summary>
    public WriteSummary ToSummary() => new()
    {
        Directories = _directories,
        Files = _files,
        Symlinks = _symlinks,
        Hardlinks = _hardlinks,
        Devices = _devices,
        Fifos = _fifos,
        SkippedDevices = _skippedDevices,
        ContentBytes = _contentBytes,
    };
}
