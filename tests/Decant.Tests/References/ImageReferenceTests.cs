using Decant.Manifests;
using Decant.Model;
using Decant.References;

namespace Decant.Tests.References;

public class ImageReferenceTests
{
    private const string Hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    private static readonly Digest EmptyDigest = Digest.Parse("sha256:" + Hex);

    public static TheoryData<string, ImageReference, string> Valid => new()
    {
        { "oci:/tmp/img", new OciLayoutReference("/tmp/img"), "oci:/tmp/img" },
        { "oci:/tmp/img:t1", new OciLayoutReference("/tmp/img", "t1"), "oci:/tmp/img:t1" },
        { "oci:rel/dir:v1.2-rc_3", new OciLayoutReference("rel/dir", "v1.2-rc_3"), "oci:rel/dir:v1.2-rc_3" },
        { $"oci:img@sha256:{Hex}", new OciLayoutReference("img", Digest: EmptyDigest), $"oci:img@sha256:{Hex}" },
        { "oci:/a:b/c", new OciLayoutReference("/a:b/c"), "oci:/a:b/c" },
        { "oci:/a:b/c:latest", new OciLayoutReference("/a:b/c", "latest"), "oci:/a:b/c:latest" },
        { "oci-archive:/x/y.tar", new OciArchiveReference("/x/y.tar"), "oci-archive:/x/y.tar" },
        { "oci-archive:/x/y.tar:latest", new OciArchiveReference("/x/y.tar", "latest"), "oci-archive:/x/y.tar:latest" },
        { $"oci-archive:y.tar@sha256:{Hex}", new OciArchiveReference("y.tar", Digest: EmptyDigest), $"oci-archive:y.tar@sha256:{Hex}" },
        { "docker-archive:/x/d.tar", new DockerArchiveReference("/x/d.tar"), "docker-archive:/x/d.tar" },
        { "docker-archive:d.tar:busybox:1.36", new DockerArchiveReference("d.tar", new DockerImageName("docker.io", "library/busybox", "1.36")), "docker-archive:d.tar:docker.io/library/busybox:1.36" },
        { "docker-archive:d.tar:example/app", new DockerArchiveReference("d.tar", new DockerImageName("docker.io", "example/app")), "docker-archive:d.tar:docker.io/example/app" },
        { "docker-archive:d.tar:@2", new DockerArchiveReference("d.tar", SourceIndex: 2), "docker-archive:d.tar:@2" },
        { "docker://busybox", new RegistryReference(new DockerImageName("docker.io", "library/busybox")), "docker://docker.io/library/busybox" },
        { "docker://index.docker.io/user/app:v2", new RegistryReference(new DockerImageName("docker.io", "user/app", "v2")), "docker://docker.io/user/app:v2" },
        { "docker://quay.io/org/app:1.0", new RegistryReference(new DockerImageName("quay.io", "org/app", "1.0")), "docker://quay.io/org/app:1.0" },
        { $"docker://localhost:5000/a/b:t@sha256:{Hex}", new RegistryReference(new DockerImageName("localhost:5000", "a/b", "t", EmptyDigest)), $"docker://localhost:5000/a/b:t@sha256:{Hex}" },
        { "docker://localhost/app", new RegistryReference(new DockerImageName("localhost", "app")), "docker://localhost/app" },
        { "containers-storage:busybox", new ContainersStorageReference(null, "busybox"), "containers-storage:busybox" },
        { "containers-storage:[overlay@/var/lib/containers/storage]busybox:latest", new ContainersStorageReference(new StoreSpecifier("overlay", "/var/lib/containers/storage", null, []), "busybox:latest"), "containers-storage:[overlay@/var/lib/containers/storage]busybox:latest" },
        { "containers-storage:[/s]app", new ContainersStorageReference(new StoreSpecifier(null, "/s", null, []), "app"), "containers-storage:[/s]app" },
        { "containers-storage:[vfs@/s+/r:vfs.ignore_chown_errors=true,x=y]localhost/app@sha256:" + Hex, new ContainersStorageReference(new StoreSpecifier("vfs", "/s", "/r", ["vfs.ignore_chown_errors=true", "x=y"]), "localhost/app@sha256:" + Hex), "containers-storage:[vfs@/s+/r:vfs.ignore_chown_errors=true,x=y]localhost/app@sha256:" + Hex },
        { "containers-storage:sha256:4f1c", new ContainersStorageReference(null, "sha256:4f1c"), "containers-storage:sha256:4f1c" },
    };

    [Theory]
    [MemberData(nameof(Valid))]
    public void ParsesAndRoundTrips(string text, ImageReference expected, string canonical)
    {
        var parsed = ImageReference.Parse(text);
        Assert.Equal(expected, parsed);
        Assert.Equal(canonical, parsed.ToString());
        Assert.Equal(parsed, ImageReference.Parse(parsed.ToString()));
    }

    [Theory]
    [InlineData("busybox", "has no transport")]
    [InlineData("foo:bar", "unknown transport \"foo\"")]
    [InlineData("oci:", "names no path")]
    [InlineData("oci::t1", "names no path")]
    [InlineData("docker:busybox", "docker://NAME")]
    [InlineData("docker://", "docker://NAME")]
    [InlineData("docker://Busybox", "\"Busybox\" is not a valid repository path component")]
    [InlineData("docker://busybox:bad/tag", "\"busybox:bad\" is not a valid registry")]
    [InlineData("docker://busybox@sha256:abc", "is not a sha256 or sha512 digest")]
    [InlineData("docker-archive:d.tar:@x", "invalid image index \"@x\"")]
    [InlineData("docker-archive:d.tar:@-1", "invalid image index \"@-1\"")]
    [InlineData($"docker-archive:d.tar:app@sha256:{Hex}", "not by digest")]
    [InlineData("docker-archive::app:v1", "names no file")]
    [InlineData("containers-storage:", "names no image")]
    [InlineData("containers-storage:[/s]", "names no image")]
    [InlineData("containers-storage:[overlay@/s app", "no closing ']'")]
    [InlineData("containers-storage:[overlay@relative]app", "graph root \"relative\" is not an absolute path")]
    [InlineData("containers-storage:[overlay@/s+run]app", "run root \"run\" is not an absolute path")]
    [InlineData("containers-storage:[@/s]app", "is not a storage driver name")]
    [InlineData("containers-storage:[]app", "has no graph root")]
    public void RejectsMalformedReferencesAsUsageErrors(string text, string expectedFragment)
    {
        var error = Assert.Throws<DecantException>(() => ImageReference.Parse(text));
        Assert.Equal(DecantErrorKind.Usage, error.Kind);
        Assert.Contains(expectedFragment, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void UnknownTransportErrorListsEverySupportedTransport()
    {
        var error = Assert.Throws<DecantException>(() => ImageReference.Parse("dir:/tmp/x"));
        foreach (string transport in ImageReference.SupportedTransports)
        {
            Assert.Contains(transport + ":", error.Message, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("latest", true)]
    [InlineData("v1.2.3-rc_1", true)]
    [InlineData("_x", true)]
    [InlineData(".hidden", false)]
    [InlineData("-dash", false)]
    [InlineData("has/slash", false)]
    [InlineData("", false)]
    public void ValidatesTags(string tag, bool valid)
    {
        Assert.Equal(valid, DockerImageName.IsValidTag(tag));
    }

    [Fact]
    public void TagLongerThan128CharactersIsNotATagSoItStaysInThePath()
    {
        string longTag = new('a', 129);
        var parsed = Assert.IsType<OciLayoutReference>(ImageReference.Parse($"oci:/d:{longTag}"));
        Assert.Equal($"/d:{longTag}", parsed.Path);
        Assert.Null(parsed.Tag);
    }
}
