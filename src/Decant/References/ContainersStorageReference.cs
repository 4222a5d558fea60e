using Decant.Model;

namespace Decant.References;

/// <summary>
/// An image in a containers-storage store (podman's, buildah's, CRI-O's), as skopeo spells it:
/// <c>containers-storage:[DRIVER@GRAPHROOT+RUNROOT:OPTIONS]IMAGE</c>. The bracketed store
/// specifier is optional (without it, the user's default store, as <c>storage.conf</c> says), and so
/// is each part of it but the graph root. IMAGE is kept as written: a name (<c>localhost/app:1</c>,
/// a short name such as <c>app</c>, <c>NAME@sha256:…</c>), or an image ID, whole or a unique
/// prefix, with or without <c>sha256:</c>. Which of these it is depends on what the store holds, so
/// it is decided when the store is read (<c>Sources/ContainersStorage</c>).
/// </summary>
/// <param name="Store">The store the reference names, or null for the default store.</param>
/// <param name="Image">The image, as written after the store specifier.</param>
internal sealed record ContainersStorageReference(StoreSpecifier? Store, string Image) : ImageReference
{
    /// <summary>The transport prefix, <c>containers-storage</c>.</summary>
    public const string TransportName = "containers-storage";

    /// <summary>Always <see cref="TransportName"/>.</summary>
    public override string Transport => TransportName;

    /// <summary><c>containers-storage:</c>, the store specifier when there is one, and the image as written.</summary>
    public override string ToString() => TransportName + ":" + (Store is null ? "" : Store.ToString()) + Image;

    internal static ContainersStorageReference ParseDetails(string details)
    {
        StoreSpecifier? store = null;
        string image = details;
        if (details.StartsWith('['))
        {
            int close = details.IndexOf(']', StringComparison.Ordinal);
            if (close < 0)
            {
                throw Invalid(details, "the store specifier has no closing ']'");
            }
            store = StoreSpecifier.Parse(details[1..close], details);
            image = details[(close + 1)..];
        }
        if (image.Length == 0)
        {
            throw Invalid(details, "it names no image; write containers-storage:[DRIVER@ROOT+RUNROOT]NAME[:TAG], or an image ID");
        }
        if (image.Any(c => char.IsWhiteSpace(c) || char.IsControl(c)))
        {
            throw Invalid(details, $"the image \"{image}\" contains white space or a control character");
        }
        return new ContainersStorageReference(store, image);
    }

    internal static DecantException Invalid(string details, string why) =>
        new(DecantErrorKind.Usage, $"\"{TransportName}:{details}\" is not a valid reference: {why}");
}

/// <summary>
/// Which store a <c>containers-storage:</c> reference names: <c>[DRIVER@GRAPHROOT+RUNROOT:OPTIONS]</c>.
/// </summary>
/// <param name="Driver">The storage driver (<c>overlay</c>, <c>vfs</c>), or null to take the store's own.</param>
/// <param name="GraphRoot">The store's root directory (an absolute path), where images and layers live.</param>
/// <param name="RunRoot">The store's run directory (an absolute path), or null for the default one.</param>
/// <param name="Options">The driver options after ':' (comma-separated, e.g. <c>overlay.mount_program=…</c>), kept for the record; reading a store needs none.</param>
internal sealed record StoreSpecifier(string? Driver, string GraphRoot, string? RunRoot, IReadOnlyList<string> Options)
{
    /// <summary>The specifier as skopeo writes it, brackets included.</summary>
    public override string ToString() =>
        "[" + (Driver is null ? "" : Driver + "@") + GraphRoot + (RunRoot is null ? "" : "+" + RunRoot)
        + (Options.Count == 0 ? "" : ":" + string.Join(',', Options)) + "]";

    /// <summary>Value equality, the options compared element by element.</summary>
    public bool Equals(StoreSpecifier? other) =>
        other is not null && Driver == other.Driver && GraphRoot == other.GraphRoot && RunRoot == other.RunRoot && Options.SequenceEqual(other.Options);

    /// <summary>A hash consistent with <see cref="Equals(StoreSpecifier?)"/>.</summary>
    public override int GetHashCode() => HashCode.Combine(Driver, GraphRoot, RunRoot, Options.Count);

    internal static StoreSpecifier Parse(string specifier, string details)
    {
        string rest = specifier;
        string? driver = null;
        int at = rest.IndexOf('@', StringComparison.Ordinal);
        if (at >= 0)
        {
            driver = rest[..at];
            rest = rest[(at + 1)..];
            if (driver.Length == 0 || !driver.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.'))
            {
                throw ContainersStorageReference.Invalid(details, $"\"{driver}\" is not a storage driver name");
            }
        }
        // Paths are absolute, so the first ':' after the root (or the run root) starts the options.
        IReadOnlyList<string> options = [];
        int plus = rest.IndexOf('+', StringComparison.Ordinal);
        int colon = rest.IndexOf(':', plus < 0 ? 0 : plus);
        if (colon >= 0)
        {
            options = rest[(colon + 1)..].Split(',', StringSplitOptions.RemoveEmptyEntries);
            rest = rest[..colon];
        }
        string graphRoot = rest;
        string? runRoot = null;
        if (plus >= 0)
        {
            graphRoot = rest[..plus];
            runRoot = rest[(plus + 1)..];
            RequireAbsolute(runRoot, "run root", details);
        }
        RequireAbsolute(graphRoot, "graph root", details);
        return new StoreSpecifier(driver, graphRoot, runRoot, options);
    }

    private static void RequireAbsolute(string path, string what, string details)
    {
        if (!path.StartsWith('/'))
        {
            throw ContainersStorageReference.Invalid(details, path.Length == 0 ? $"the store specifier has no {what}" : $"the {what} \"{path}\" is not an absolute path");
        }
    }
}
