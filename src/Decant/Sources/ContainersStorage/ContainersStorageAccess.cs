using Decant.Interop;
using Decant.References;

namespace Decant.Sources.ContainersStorage;

/// <summary>
/// What reading a containers-storage store needs of the process. A rootless store (one a user's
/// podman or buildah made) holds its layers' files under the user's sub-IDs, and some are readable
/// only by their owner (<c>/etc/shadow</c>, <c>/root</c>): only a process inside the user's user
/// namespace, where those IDs are mapped and the user is root, reads them all. containers/storage's
/// own programs (podman, buildah, skopeo) re-execute themselves there before they open such a
/// store; a program using this library does the same (<c>podman unshare PROGRAM …</c>), as the
/// <c>decant</c> command does by itself.
/// </summary>
public static class ContainersStorageAccess
{
    /// <summary>
    /// Whether <paramref name="reference"/> names a containers-storage image in a store of the
    /// current user's own (its directory is owned by the user) while the process is not root (in
    /// its namespace): such a store must be read from inside the user's user namespace.
    /// </summary>
    public static async Task<bool> NeedsUserNamespaceAsync(string reference, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(reference);
        if (ImageReference.ParseWithBareNames(reference) is not ContainersStorageReference storage)
        {
            return false;
        }
        uint user = LibC.GetEffectiveUserId();
        if (user == 0)
        {
            return false;
        }
        string graphRoot = storage.Store?.GraphRoot ?? (await StorageConf.ResolveDefaultAsync(cancellationToken).ConfigureAwait(false)).GraphRoot;
        var status = Posix.TryOpenForReading(graphRoot, noFollow: false, out var stat, out _);
        if (status is null)
        {
            return false; // missing or unreadable: opening the source says which
        }
        status.Dispose();
        return stat.Uid == user;
    }
}
