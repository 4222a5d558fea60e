using Decant.Model;

namespace Decant.Semantics;

/// <summary>The OCI whiteout naming rules (image-spec layer.md).</summary>
internal static class Whiteout
{
    /// <summary>The prefix that makes an entry <c>.wh.NAME</c> a whiteout of <c>NAME</c> in lower layers.</summary>
    public const string Prefix = ".wh.";
    /// <summary>The entry name that marks its directory opaque: lower layers' children of it are hidden.</summary>
    public const string OpaqueMarker = ".wh..wh..opq";
    /// <summary>aufs bookkeeping entries (<c>.wh..wh.plnk</c>, <c>.wh..wh.aufs</c>) carry no meaning for a rootfs.</summary>
    public const string MetaPrefix = ".wh..wh.";

    /// <summary>What a layer entry is as far as the whiteout rules go.</summary>
    public enum Kind
    {
        /// <summary>An ordinary entry, not a whiteout.</summary>
        None,
        /// <summary>Hides the named sibling in lower layers.</summary>
        Plain,
        /// <summary>Hides every lower-layer child of its directory.</summary>
        Opaque,
        /// <summary>aufs metadata: ignored.</summary>
        Meta,
    }

    /// <summary>Classifies a path's last component; returns the hidden name for a plain whiteout.</summary>
    public static Kind Classify(string baseName, string entryName, out string hiddenName)
    {
        hiddenName = "";
        if (!baseName.StartsWith(Prefix, StringComparison.Ordinal))
        {
            return Kind.None;
        }
        if (baseName == OpaqueMarker)
        {
            return Kind.Opaque;
        }
        if (baseName.StartsWith(MetaPrefix, StringComparison.Ordinal))
        {
            return Kind.Meta;
        }
        hiddenName = baseName[Prefix.Length..];
        if (hiddenName is "" or "." or "..")
        {
            throw new DecantException(DecantErrorKind.UnsafeLayer, $"invalid whiteout name \"{baseName}\"") { Entry = entryName };
        }
        return Kind.Plain;
    }

    /// <summary>Whether a path lies inside an aufs metadata directory such as <c>.wh..wh.plnk/</c>.</summary>
    public static bool IsUnderMetadata(string[] path)
    {
        for (int i = 0; i < path.Length - 1; i++)
        {
            if (path[i].StartsWith(MetaPrefix, StringComparison.Ordinal))
            {
                return true;
            }
        }
        return false;
    }
}
