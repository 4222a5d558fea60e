using Decant.Model;
using Decant.Sources.ContainersStorage;

namespace Decant.Tests.Sources;

/// <summary>How a containers-storage reference's image part finds an image among a store's, as podman finds it.</summary>
public class StoredImageLookupTests
{
    private const string StoreName = "containers-storage:[overlay@/s]";
    private static readonly string AppId = "4f1c" + new string('a', 60);
    private static readonly string DebianId = "4f2d" + new string('b', 60);
    private static readonly string ToolId = "9e00" + new string('c', 60);
    private static readonly string Digest = "sha256:" + new string('d', 64);

    private static readonly StoredImage[] Images =
    [
        new() { Id = AppId, Names = ["localhost/app:latest", "localhost/app:1"], Digest = Digest },
        new() { Id = DebianId, Names = ["docker.io/library/debian:12"] },
        new() { Id = ToolId, Names = ["quay.io/team/tool:latest", "registry.example.com/other/tool:latest"] },
    ];

    [Theory]
    [InlineData("localhost/app", "app")]
    [InlineData("localhost/app:1", "app")]
    [InlineData("app", "app")]
    [InlineData("app:1", "app")]
    [InlineData("debian:12", "debian")]
    [InlineData("library/debian:12", "debian")]
    [InlineData("docker.io/library/debian:12", "debian")]
    [InlineData("docker.io/debian:12", "debian")]
    [InlineData("quay.io/team/tool", "tool")]
    [InlineData("team/tool", "tool")]
    [InlineData("4f1c", "app")]
    [InlineData("sha256:4f2d", "debian")]
    [InlineData("9e", "tool")]
    public void FindsImagesByNameShortNameAndIdPrefix(string text, string expected)
    {
        var found = StoredImageLookup.Find(Images, text, StoreName);
        Assert.Equal(expected switch { "app" => AppId, "debian" => DebianId, _ => ToolId }, found.Id);
    }

    [Fact]
    public void FindsImagesByFullIdByDigestAndByNameAtId()
    {
        Assert.Equal(DebianId, StoredImageLookup.Find(Images, DebianId, StoreName).Id);
        Assert.Equal(AppId, StoredImageLookup.Find(Images, "localhost/app@" + Digest, StoreName).Id);
        Assert.Equal(AppId, StoredImageLookup.Find(Images, "app@" + AppId, StoreName).Id);
        var wrongName = Assert.Throws<DecantException>(() => StoredImageLookup.Find(Images, "debian@" + AppId, StoreName));
        Assert.Contains("is not named debian", wrongName.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AShortNameOnSeveralRegistriesIsAmbiguousUnlessOneImageHasThemAll()
    {
        // Both names are the same image: not ambiguous.
        Assert.Equal(ToolId, StoredImageLookup.Find(Images, "tool", StoreName).Id);
        StoredImage[] two = [.. Images, new() { Id = "7" + new string('e', 63), Names = ["ghcr.io/x/tool:latest"] }];
        var error = Assert.Throws<DecantException>(() => StoredImageLookup.Find(two, "tool", StoreName));
        Assert.Equal(DecantErrorKind.Usage, error.Kind);
        Assert.Contains("ambiguous", error.Message, StringComparison.Ordinal);
        Assert.Contains("ghcr.io/x/tool:latest", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AnIdPrefixOfSeveralImagesIsAmbiguous()
    {
        var error = Assert.Throws<DecantException>(() => StoredImageLookup.Find(Images, "sha256:4f", StoreName));
        Assert.Contains("matches 2 images", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("ap", "localhost/app")]
    [InlineData("localhost/app:2", "localhost/app:1")]
    [InlineData("debain:12", "debian:12")]
    public void AnUnknownImageIsNotFoundWithTheClosestNames(string text, string suggested)
    {
        var error = Assert.Throws<DecantException>(() => StoredImageLookup.Find(Images, text, StoreName));
        Assert.Equal(DecantErrorKind.NotFound, error.Kind);
        Assert.StartsWith($"{StoreName}: no image \"{text}\"; did you mean ", error.Message, StringComparison.Ordinal);
        Assert.Contains(suggested, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AnEmptyStoreSaysSo()
    {
        var error = Assert.Throws<DecantException>(() => StoredImageLookup.Find([], "app", StoreName));
        Assert.EndsWith("the store holds no images", error.Message, StringComparison.Ordinal);
    }
}
