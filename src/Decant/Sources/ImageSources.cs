using Decant.Model;
using Decant.References;
using Decant.Sources.DockerArchive;
using Decant.Sources.OciArchive;
using Decant.Sources.OciLayout;
using Decant.Sources.Registry;

namespace Decant.Sources;

/// <summary>Opens the <see cref="IImageSource"/> for an <see cref="ImageReference"/>, whatever its transport.</summary>
internal static class ImageSources
{
    /// <summary>Opens a source with <see cref="SourceOptions.Default"/>.</summary>
    public static Task<IImageSource> OpenAsync(ImageReference reference, CancellationToken cancellationToken) =>
        OpenAsync(reference, SourceOptions.Default, cancellationToken);

    /// <summary>
    /// Opens the source a reference names and selects its image (tag, digest, index). Failures to
    /// find or read it throw <see cref="DecantException"/>.
    /// <paramref name="options"/> matters to network transports (credentials, TLS, mirrors, timeouts).
    /// </summary>
    public static async Task<IImageSource> OpenAsync(ImageReference reference, SourceOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(reference);
        cancellationToken.ThrowIfCancellationRequested();
        return reference switch
        {
            OciLayoutReference layout => await OciLayoutSource.OpenAsync(layout, cancellationToken).ConfigureAwait(false),
            OciArchiveReference archive => await OciArchiveSource.OpenAsync(archive, cancellationToken).ConfigureAwait(false),
            DockerArchiveReference docker => await DockerArchiveSource.OpenAsync(docker, cancellationToken).ConfigureAwait(false),
            RegistryReference registry => await RegistrySource.OpenAsync(registry, options, cancellationToken).ConfigureAwait(false),
            ContainersStorageReference storage => await ContainersStorage.ContainersStorageSource.OpenAsync(storage, options, cancellationToken).ConfigureAwait(false),
            _ => throw new DecantException(DecantErrorKind.Usage, $"no source for the {reference.Transport} transport"),
        };
    }
}
