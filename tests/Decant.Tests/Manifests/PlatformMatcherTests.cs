using System.Runtime.InteropServices;
using Decant.Manifests;
using Decant.Model;

namespace Decant.Tests.Manifests;

public class PlatformMatcherTests
{
    private static Platform P(string os, string arch, string? variant = null) => new() { Os = os, Architecture = arch, Variant = variant };

    private static Descriptor Child(string name, Platform? platform) =>
        new() { MediaType = MediaTypes.OciManifest, Digest = Digest.Sha256Of(System.Text.Encoding.UTF8.GetBytes(name)).ToString(), Size = 1, Platform = platform };

    [Theory]
    [InlineData("linux/amd64", "linux", "amd64", null)]
    [InlineData("linux/arm64/v8", "linux", "arm64", "v8")]
    [InlineData("Linux/x86_64", "linux", "amd64", null)]
    [InlineData("linux/aarch64/8", "linux", "arm64", "v8")]
    [InlineData("linux/arm/v6", "linux", "arm", "v6")]
    public void ParsesAndNormalizes(string text, string os, string arch, string? variant)
    {
        Assert.Equal(P(os, arch, variant), PlatformMatcher.Parse(text));
    }

    [Theory]
    [InlineData("linux")]
    [InlineData("linux/")]
    [InlineData("/amd64")]
    [InlineData("linux/arm/v7/extra")]
    public void RejectsMalformedPlatforms(string text)
    {
        var error = Assert.Throws<DecantException>(() => PlatformMatcher.Parse(text));
        Assert.Equal(DecantErrorKind.Usage, error.Kind);
        Assert.Contains($"invalid platform \"{text}\"", error.Message, StringComparison.Ordinal);
        Assert.Contains("OS/ARCH[/VARIANT]", error.Message, StringComparison.Ordinal);
    }

    private static readonly Descriptor Amd64 = Child("amd64", P("linux", "amd64"));
    private static readonly Descriptor Arm64NoVariant = Child("arm64", P("linux", "arm64"));
    private static readonly Descriptor ArmV6 = Child("armv6", P("linux", "arm", "v6"));
    private static readonly Descriptor ArmV7 = Child("armv7", P("linux", "arm", "v7"));
    private static readonly Descriptor Windows = Child("windows", P("windows", "amd64"));
    private static readonly IReadOnlyList<Descriptor> Index = [Windows, Amd64, ArmV6, ArmV7, Arm64NoVariant];

    [Fact]
    public void OsAndArchitectureMustMatchExactly()
    {
        Assert.Same(Amd64, PlatformMatcher.Select(Index, P("linux", "amd64")));
        Assert.Same(Windows, PlatformMatcher.Select(Index, P("windows", "amd64")));
        Assert.Null(PlatformMatcher.Select(Index, P("linux", "riscv64")));
        Assert.Null(PlatformMatcher.Select(Index, P("freebsd", "amd64")));
    }

    [Fact]
    public void Arm64WithoutVariantCountsAsV8()
    {
        Assert.Same(Arm64NoVariant, PlatformMatcher.Select(Index, P("linux", "arm64", "v8")));
        Assert.Null(PlatformMatcher.Select(Index, P("linux", "arm64", "v9")));
    }

    [Fact]
    public void VariantMattersOnlyWhenRequested()
    {
        Assert.Same(ArmV6, PlatformMatcher.Select(Index, P("linux", "arm", "v6")));
        Assert.Same(ArmV7, PlatformMatcher.Select(Index, P("linux", "arm", "v7")));
        Assert.Same(ArmV7, PlatformMatcher.Select(Index, P("linux", "arm")));
        Assert.Null(PlatformMatcher.Select(Index, P("linux", "arm", "v5")));
    }

    [Fact]
    public void ChildWithoutPlatformCountsAsLinuxAmd64()
    {
        var bare = Child("bare", null);
        Assert.Same(bare, PlatformMatcher.Select([ArmV7, bare], P("linux", "amd64")));
        Assert.Null(PlatformMatcher.Select([bare], P("linux", "arm64")));
        Assert.Equal("linux/arm/v7, linux/amd64", PlatformMatcher.DescribeAvailable([ArmV7, bare]));
    }

    [Fact]
    public void HostIsLinuxOnThisMachinesArchitecture()
    {
        var host = PlatformMatcher.Host;
        Assert.Equal("linux", host.Os);
        string expected = RuntimeInformation.OSArchitecture switch
        {
            Architecture.X64 => "amd64",
            Architecture.Arm64 => "arm64",
            _ => host.Architecture,
        };
        Assert.Equal(expected, host.Architecture);
        Assert.Equal(host.Architecture == "arm64" ? "v8" : null, host.Variant);
    }
}
