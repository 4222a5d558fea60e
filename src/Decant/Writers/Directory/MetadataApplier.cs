using Decant.Interop;
using Decant.Model;
using Decant.Tree;

namespace Decant.Writers.Directory;

/// <summary>
/// Sets an inode's owner, xattrs, mode and times, in that order: chown clears setuid, setgid and
/// security.capability, so those come after it; times come last. Nothing is ever applied through a
/// symlink. Regular files and directories are changed through a descriptor of their own (fchown,
/// fsetxattr, fchmod, futimens). Symlinks, fifos and devices are changed by name inside their open
/// parent: fchownat and utimensat with AT_SYMLINK_NOFOLLOW, fchmodat with AT_SYMLINK_NOFOLLOW (not
/// for symlinks, whose mode Linux ignores), and lsetxattr on /proc/self/fd/PARENT/NAME, because
/// fsetxattr cannot use an O_PATH descriptor and opening a device or fifo would act on it.
/// </summary>
/// <remarks>
/// Xattr policy. Linux refuses <c>user.*</c> attributes on anything but regular files and
/// directories, so those are skipped there and counted. With <see cref="OwnershipMode.Rootless"/>
/// an attribute the kernel refuses to an unprivileged caller (EPERM, EACCES, EOPNOTSUPP: trusted.*,
/// security.capability, a filesystem without xattrs) is skipped and counted too, as umoci does.
/// With <see cref="OwnershipMode.Preserve"/> any other refusal fails the write: the caller asked for
/// an exact copy.
/// </remarks>
internal sealed class MetadataApplier
{
    private const uint PermissionBits = 0xFFF; // rwx for all three, plus setuid, setgid and sticky
    private readonly OwnershipMode _ownership;

    public MetadataApplier(OwnershipMode ownership)
    {
        _ownership = ownership;
    }

    /// <summary>Attributes that could not be written under the policy above and were left out.</summary>
    public long SkippedXattrs { get; private set; }

    /// <summary>
    /// Applies metadata to an open regular file or directory; its mode only unless
    /// <paramref name="modeIsSet"/> (it was created with it, and has no setuid or setgid bit that chown
    /// would clear), its owner only unless <paramref name="ownerIsSet"/> (it was created with it).
    /// </summary>
    public unsafe void ApplyToDescriptor(System.Runtime.InteropServices.SafeHandle file, Inode inode, string display, bool modeIsSet = false, bool ownerIsSet = false)
    {
        if (_ownership == OwnershipMode.Preserve && !ownerIsSet)
        {
            Posix.Check(LibC.Fchown(file, OwnerId(inode.Uid, display), OwnerId(inode.Gid, display)), "fchown", display);
        }
        foreach (var (name, value) in XattrsToWrite(inode, display))
        {
            HandleXattrResult(Posix.TrySetXattr(file, name, value), name, display);
        }
        if (!modeIsSet)
        {
            Posix.Check(LibC.Fchmod(file, inode.Mode & PermissionBits), "fchmod", display);
        }
        var times = stackalloc LibC.TimeSpec[2];
        FillTimes(times, inode);
        Posix.Check(LibC.Futimens(file, times), "futimens", display);
    }

    /// <summary>Applies metadata to a symlink, fifo or device by its name inside an open parent directory.</summary>
    public unsafe void ApplyByName(SafeFdHandle parent, string name, Inode inode, string display)
    {
        if (_ownership == OwnershipMode.Preserve)
        {
            Posix.Check(LibC.FchownAt(parent, name, OwnerId(inode.Uid, display), OwnerId(inode.Gid, display), LibC.AT_SYMLINK_NOFOLLOW), "fchownat", display);
        }
        var xattrPath = Posix.PathThroughDescriptor(parent, name);
        foreach (var (attribute, value) in XattrsToWrite(inode, display))
        {
            if (attribute.StartsWith("user.", StringComparison.Ordinal))
            {
                SkippedXattrs++;
                continue;
            }
            HandleXattrResult(Posix.TrySetXattrNoFollow(xattrPath, attribute, value), attribute, display);
        }
        GC.KeepAlive(parent);
        if (inode.Kind != NodeKind.Symlink)
        {
            Posix.Check(LibC.FchmodAt(parent, name, inode.Mode & PermissionBits, LibC.AT_SYMLINK_NOFOLLOW), "fchmodat", display);
        }
        var times = stackalloc LibC.TimeSpec[2];
        FillTimes(times, inode);
        Posix.Check(LibC.UtimensAt(parent, name, times, LibC.AT_SYMLINK_NOFOLLOW), "utimensat", display);
    }

    private IEnumerable<KeyValuePair<string, byte[]>> XattrsToWrite(Inode inode, string display)
    {
        if (_ownership == OwnershipMode.Preserve)
        {
            return inode.Xattrs;
        }
        // Rootless: our owner record replaces any the image carried. A file capability is never set: an
        // unprivileged process cannot, and one inside a user namespace would set a capability of that
        // namespace's root (a v3 one), so the output would depend on how the export was run.
        if (inode.Xattrs.Any(x => x.Key == FileCapabilityXattr))
        {
            SkippedXattrs++;
        }
        var others = inode.Xattrs.Where(x => x.Key is not (RootlessOwnerXattr.Name or FileCapabilityXattr));
        var owner = RootlessOwnerXattr.Encode(OwnerId(inode.Uid, display), OwnerId(inode.Gid, display));
        return owner is null ? others : others.Prepend(new(RootlessOwnerXattr.Name, owner));
    }

    private const string FileCapabilityXattr = "security.capability";

    private void HandleXattrResult(int errno, string attribute, string display)
    {
        if (errno == 0)
        {
            return;
        }
        if (_ownership == OwnershipMode.Rootless && errno is LibC.EPERM or LibC.EACCES or LibC.EOPNOTSUPP)
        {
            SkippedXattrs++;
            return;
        }
        throw Posix.Failure($"setxattr {attribute} on", display, errno);
    }

    private static uint OwnerId(long id, string display) =>
        id is >= 0 and < uint.MaxValue
            ? (uint)id
            : throw new DecantException(DecantErrorKind.OutputError, $"owner id {id} of \"{display}\" cannot be stored on Linux");

    private static unsafe void FillTimes(LibC.TimeSpec* times, Inode inode)
    {
        times[0] = ToTimeSpec(inode.AccessTime);
        times[1] = ToTimeSpec(inode.ModificationTime);
    }

    private static LibC.TimeSpec ToTimeSpec(Timestamp time) => new() { Seconds = time.Seconds, Nanoseconds = time.Nanoseconds };
}
