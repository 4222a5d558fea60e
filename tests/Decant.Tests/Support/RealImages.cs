namespace Decant.Tests.Support;

/// <summary>
/// The corpus of real images built by <c>tests/fixtures/build-images.sh</c> with umoci, buildah and
/// skopeo, shared by every test in <see cref="UsesRealImages"/>. Building it installs any missing
/// tools with <c>scripts/install-test-tools.sh</c>; when that or the build fails, every test in the
/// collection fails with the script's output (tests never pass silently without the tools).
/// </summary>
public sealed class RealImages : IAsyncLifetime
{
    /// <summary>The tag every corpus OCI layout carries.</summary>
    public const string Tag = "latest";

    private readonly string scratchRoot;

    public RealImages()
    {
        RepositoryRoot = FindRepositoryRoot();
        CorpusDirectory = Path.Combine(RepositoryRoot, ".test-cache", "images");
        scratchRoot = Path.Combine(RepositoryRoot, ".test-cache", "scratch", Guid.NewGuid().ToString("N"));
    }

    /// <summary>The checkout's root (the directory holding the .slnx).</summary>
    public string RepositoryRoot { get; }

    /// <summary>Where the corpus is built (<c>.test-cache/images</c>); rebuilt only when the build script changes.</summary>
    public string CorpusDirectory { get; }

    /// <summary>OCI layout made by umoci unpack/repack: whiteouts, type changes, hardlinks, devices, xattrs, odd names.</summary>
    public string UmociMulti => Path.Combine(CorpusDirectory, "umoci-multi");

    /// <summary><see cref="UmociMulti"/> recompressed to zstd by skopeo.</summary>
    public string UmociMultiZstd => Path.Combine(CorpusDirectory, "umoci-multi-zstd");

    /// <summary><see cref="UmociMulti"/> as an oci-archive (tag <c>latest</c>).</summary>
    public string UmociMultiOciArchive => Path.Combine(CorpusDirectory, "umoci-multi.oci.tar");

    /// <summary><see cref="UmociMulti"/> as a docker-archive (RepoTags <c>docker.io/umoci/multi:latest</c>).</summary>
    public string UmociMultiDockerArchive => Path.Combine(CorpusDirectory, "umoci-multi.docker.tar");

    /// <summary>OCI layout made by buildah's overlay driver, with uncompressed layers and a real opaque whiteout.</summary>
    public string BuildahOpaque => Path.Combine(CorpusDirectory, "buildah-opaque");

    /// <summary>The committed sample (<c>samples/busybox</c>).</summary>
    public string SampleBusybox => Path.Combine(RepositoryRoot, "samples", "busybox");

    /// <summary>The OCI layouts of the corpus, for tests that run over all of them.</summary>
    public IReadOnlyList<string> OciLayouts => [UmociMulti, UmociMultiZstd, BuildahOpaque];

    public async Task InitializeAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(10));
        await Tools.RunCheckedAsync("bash", [Path.Combine(RepositoryRoot, "scripts", "install-test-tools.sh")], timeout.Token).ConfigureAwait(false);
        await Tools.RunCheckedAsync("bash", [Path.Combine(RepositoryRoot, "tests", "fixtures", "build-images.sh"), CorpusDirectory], timeout.Token).ConfigureAwait(false);
        Directory.CreateDirectory(scratchRoot);
    }

    public async Task DisposeAsync()
    {
        // rm, not Directory.Delete: unpacked trees may hold names that are not UTF-8.
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await Tools.RunCheckedAsync("rm", ["-rf", "--", scratchRoot], timeout.Token).ConfigureAwait(false);
    }

    /// <summary>A new, empty directory for one test, deleted when the collection finishes.</summary>
    public string NewScratchDirectory(string purpose)
    {
        string directory = Path.Combine(scratchRoot, $"{purpose}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(directory);
        return directory;
    }

    /// <summary>
    /// Unpacks an image with the reference unpacker, <c>umoci unpack [--rootless] --image DIR:TAG BUNDLE</c>,
    /// and returns the bundle's rootfs. <paramref name="bundleDirectory"/> must not exist yet.
    /// umoci 0.4.7 cannot read zstd layers.
    /// </summary>
    public static async Task<string> UmociUnpackAsync(string layoutDirectory, string tag, string bundleDirectory, bool rootless, CancellationToken cancellationToken)
    {
        List<string> arguments = ["unpack"];
        if (rootless)
        {
            arguments.Add("--rootless");
        }
        arguments.AddRange(["--image", $"{layoutDirectory}:{tag}", bundleDirectory]);
        await Tools.RunCheckedAsync("umoci", arguments, cancellationToken).ConfigureAwait(false);
        return Path.Combine(bundleDirectory, "rootfs");
    }

    /// <summary>The checkout's root (the directory holding the .slnx), found above the test binaries.</summary>
    public static string FindRepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (directory.EnumerateFiles("*.slnx").Any())
            {
                return directory.FullName;
            }
        }
        throw new InvalidOperationException($"no .slnx found above {AppContext.BaseDirectory}; cannot locate the repository root");
    }
}

/// <summary>The xunit collection whose tests share one <see cref="RealImages"/> corpus.</summary>
[CollectionDefinition(Name)]
public sealed class UsesRealImages : ICollectionFixture<RealImages>
{
    public const string Name = "Real images";
}
