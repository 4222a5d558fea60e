using Decant.Model;

namespace Decant.Sources.ContainersStorage;

/// <summary>
/// Finds the image a <c>containers-storage:</c> reference means among a store's images, as podman
/// does: an image ID (whole, or a unique prefix, with or without <c>sha256:</c>); a full name
/// (<c>localhost/app:1</c>, <c>docker.io/library/debian:12</c>, tag <c>latest</c> when none is
/// written); <c>NAME@sha256:…</c> by manifest digest; <c>NAME@ID</c>; and a short name (<c>app</c>,
/// <c>app:1</c>, <c>team/app</c>), which means <c>localhost/NAME</c> first, else the one image
/// whose name ends in <c>/NAME</c> on any registry (an error naming them when several do).
/// </summary>
internal static class StoredImageLookup
{
    private const string Sha256Prefix = "sha256:";

    /// <summary>The image <paramref name="text"/> names; throws <see cref="DecantErrorKind.NotFound"/> with the closest names, or <see cref="DecantErrorKind.Usage"/> when it is ambiguous.</summary>
    public static StoredImage Find(IReadOnlyList<StoredImage> images, string text, string storeName)
    {
        if (text.StartsWith(Sha256Prefix, StringComparison.Ordinal))
        {
            return ByIdPrefix(images, text[Sha256Prefix.Length..], text, storeName)
                ?? throw NotFound(images, text, storeName);
        }
        string name = text;
        string? suffix = null;
        int at = text.LastIndexOf('@');
        if (at >= 0)
        {
            name = text[..at];
            suffix = text[(at + 1)..];
        }
        if (suffix is not null && IsHex(suffix) && suffix.Length == 64)
        {
            // skopeo's NAME@ID: the ID decides, and the name must be one of the image's.
            var byId = ByIdPrefix(images, suffix, text, storeName) ?? throw NotFound(images, text, storeName);
            return name.Length == 0 || Candidates(name, tag: true).Any(candidate => HasName(byId, candidate)) || ShortNameMatches(byId, name)
                ? byId
                : throw new DecantException(DecantErrorKind.NotFound, $"{storeName}: image {suffix[..12]} is not named {name}; its names: {DescribeNames(byId)}");
        }
        if (suffix is not null)
        {
            if (!Digest.TryParse(suffix, out var digest))
            {
                throw new DecantException(DecantErrorKind.Usage, $"\"{text}\": \"{suffix}\" is neither a digest (sha256:…) nor an image ID (64 hex digits)");
            }
            var withDigest = images.Where(image => HasDigest(image, digest.ToString()) && (name.Length == 0 || NameMatches(image, name, tag: false))).ToList();
            return Single(withDigest, text, storeName) ?? throw NotFound(images, text, storeName);
        }
        if (IsHex(text) && text.Length == 64)
        {
            return ByIdPrefix(images, text, text, storeName) ?? throw NotFound(images, text, storeName);
        }
        foreach (string candidate in Candidates(name, tag: true))
        {
            if (images.FirstOrDefault(image => HasName(image, candidate)) is { } exact)
            {
                return exact;
            }
        }
        if (!HasDomain(name))
        {
            var shortMatches = images.Where(image => ShortNameMatches(image, WithDefaultTag(name))).ToList();
            if (Single(shortMatches, text, storeName) is { } shortMatch)
            {
                return shortMatch;
            }
        }
        if (IsHex(text))
        {
            if (ByIdPrefix(images, text, text, storeName) is { } byPrefix)
            {
                return byPrefix;
            }
        }
        throw NotFound(images, text, storeName);
    }

    /// <summary>The names a written name may stand for, most specific first: itself when it has a registry, else <c>localhost/NAME</c>; with the default tag when <paramref name="tag"/> and it has none.</summary>
    private static IEnumerable<string> Candidates(string name, bool tag)
    {
        string tagged = tag ? WithDefaultTag(name) : name;
        if (HasDomain(name))
        {
            yield return tagged;
            if (tagged.StartsWith("docker.io/", StringComparison.Ordinal) && tagged.Count(c => c == '/') == 1)
            {
                yield return "docker.io/library/" + tagged["docker.io/".Length..];
            }
        }
        else
        {
            yield return "localhost/" + tagged;
        }
    }

    private static bool NameMatches(StoredImage image, string name, bool tag) =>
        Candidates(name, tag).Any(candidate => (image.Names ?? []).Any(stored => Repository(stored) == candidate || stored == candidate))
        || (!HasDomain(name) && (image.Names ?? []).Any(stored => Repository(stored).EndsWith("/" + name, StringComparison.Ordinal)));

    private static bool ShortNameMatches(StoredImage image, string taggedShortName) =>
        (image.Names ?? []).Any(stored => stored.EndsWith("/" + taggedShortName, StringComparison.Ordinal));

    private static bool HasName(StoredImage image, string name) => image.Names?.Contains(name, StringComparer.Ordinal) == true;

    private static bool HasDigest(StoredImage image, string digest) =>
        image.Digest == digest || image.Digests?.Contains(digest, StringComparer.Ordinal) == true
        || image.BigDataDigests?.Any(item => item.Key.StartsWith("manifest", StringComparison.Ordinal) && item.Value == digest) == true;

    /// <summary>A stored name without its tag or digest (<c>localhost/app:1</c> → <c>localhost/app</c>).</summary>
    private static string Repository(string name)
    {
        int at = name.IndexOf('@', StringComparison.Ordinal);
        string withoutDigest = at >= 0 ? name[..at] : name;
        int colon = withoutDigest.LastIndexOf(':');
        return colon > withoutDigest.LastIndexOf('/') ? withoutDigest[..colon] : withoutDigest;
    }

    private static string WithDefaultTag(string name)
    {
        int colon = name.LastIndexOf(':');
        return colon > name.LastIndexOf('/') ? name : name + ":latest";
    }

    /// <summary>Whether a name starts with a registry host, as Docker decides: a first component with '.', ':' or that is <c>localhost</c>.</summary>
    private static bool HasDomain(string name)
    {
        int slash = name.IndexOf('/', StringComparison.Ordinal);
        if (slash < 0)
        {
            return false;
        }
        string first = name[..slash];
        return first.Contains('.', StringComparison.Ordinal) || first.Contains(':', StringComparison.Ordinal) || first == "localhost";
    }

    private static StoredImage? ByIdPrefix(IReadOnlyList<StoredImage> images, string prefix, string text, string storeName)
    {
        if (prefix.Length == 0 || !IsHex(prefix))
        {
            throw new DecantException(DecantErrorKind.Usage, $"\"{text}\": an image ID is hex digits, {(prefix.Length == 0 ? "and there are none" : $"not \"{prefix}\"")}");
        }
        var matches = images.Where(image => image.Id.StartsWith(prefix, StringComparison.Ordinal)).ToList();
        return Single(matches, text, storeName);
    }

    private static StoredImage? Single(List<StoredImage> matches, string text, string storeName) => matches.Count switch
    {
        0 => null,
        1 => matches[0],
        _ => throw new DecantException(DecantErrorKind.Usage,
            $"{storeName}: \"{text}\" is ambiguous: it matches {matches.Count} images ({string.Join("; ", matches.Take(5).Select(image => $"{image.Id[..Math.Min(12, image.Id.Length)]} {DescribeNames(image)}"))}); write the full name or more of the ID"),
    };

    private static bool IsHex(string text) => text.Length > 0 && text.All(char.IsAsciiHexDigitLower);

    private static string DescribeNames(StoredImage image) =>
        image.Names is { Count: > 0 } names ? string.Join(", ", names) : "(no names)";

    private static DecantException NotFound(IReadOnlyList<StoredImage> images, string text, string storeName)
    {
        var names = images.SelectMany(image => image.Names ?? []).ToList();
        var close = CloseMatches.Find(text, names.Concat(names.Select(Repository)).Concat(names.Select(ShortName)).Concat(names.Select(LastComponent)));
        string hint = close.Count > 0
            ? $"; did you mean {string.Join(", ", close)}?"
            : images.Count == 0 ? "; the store holds no images" : $"; it holds {images.Count} image{(images.Count == 1 ? "" : "s")}: {string.Join(", ", names.Take(8))}{(names.Count > 8 ? ", …" : "")}";
        return new DecantException(DecantErrorKind.NotFound, $"{storeName}: no image \"{text}\"{hint}");
    }

    /// <summary>A stored name's last path component (<c>docker.io/library/debian:12</c> → <c>debian:12</c>).</summary>
    private static string LastComponent(string name) => name[(Repository(name).LastIndexOf('/') + 1)..];

    /// <summary>A stored name without its registry (<c>localhost/app:1</c> → <c>app:1</c>).</summary>
    private static string ShortName(string name)
    {
        int slash = name.IndexOf('/', StringComparison.Ordinal);
        return slash >= 0 && HasDomain(name) ? name[(slash + 1)..] : name;
    }
}
