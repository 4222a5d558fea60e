using System.Runtime.InteropServices;
using Decant.Model;

namespace Decant.Manifests;

/// <summary>
/// Chooses a platform's manifest from an index the way containerd and skopeo do: OS and
/// architecture must match exactly; the variant must match only when one was asked for (and when
/// several variants match, the normalized default — arm64/v8, arm/v7 — is preferred). A child with
/// no platform counts as linux/amd64. OS and architecture are compared after normalization
/// (lowercase; x86_64 → amd64, aarch64 → arm64, i386 → 386).
/// </summary>
internal static class PlatformMatcher
{
    /// <summary>The platform assumed for an index entry that declares none.</summary>
    public static Platform Unspecified { get; } = new() { Os = "linux", Architecture = "amd64" };

    /// <summary>
    /// The platform Decant picks by default: linux on this machine's architecture, with variant v8
    /// on arm64 (32-bit arm hosts leave the variant open, since v6 and v7 both run there).
    /// </summary>
    public static Platform Host { get; } = HostPlatform();

    /// <summary>Parses <c>os/arch[/variant]</c>, e.g. <c>linux/arm64/v8</c>; throws <see cref="DecantErrorKind.Usage"/> when malformed.</summary>
    public static Platform Parse(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        string[] parts = value.Split('/');
        if (parts.Length is < 2 or > 3 || parts.Any(string.IsNullOrWhiteSpace))
        {
            throw new DecantException(DecantErrorKind.Usage, $"invalid platform \"{value}\": expected OS/ARCH[/VARIANT], e.g. linux/amd64 or linux/arm64/v8");
        }
        return Normalize(new Platform { Os = parts[0], Architecture = parts[1], Variant = parts.Length == 3 ? parts[2] : null });
    }

    /// <summary>Lowercases and applies architecture aliases; fills in the default variant of arm64 (v8) and arm (v7) only when <paramref name="defaultVariant"/>.</summary>
    public static Platform Normalize(Platform platform, bool defaultVariant = false)
    {
        ArgumentNullException.ThrowIfNull(platform);
        string architecture = platform.Architecture.ToLowerInvariant() switch
        {
            "x86_64" or "x86-64" => "amd64",
            "aarch64" => "arm64",
            "i386" or "i686" => "386",
            var other => other,
        };
        string? variant = platform.Variant?.ToLowerInvariant();
        if (variant is not null && variant.Length > 0 && char.IsAsciiDigit(variant[0]) && architecture is "arm" or "arm64")
        {
            variant = "v" + variant;
        }
        if (string.IsNullOrEmpty(variant))
        {
            variant = defaultVariant ? DefaultVariant(architecture) : null;
        }
        return platform with { Os = platform.Os.ToLowerInvariant(), Architecture = architecture, Variant = variant };
    }

    /// <summary>Whether an index entry's platform satisfies a request.</summary>
    public static bool Matches(Platform requested, Platform? candidate)
    {
        ArgumentNullException.ThrowIfNull(requested);
        var wanted = Normalize(requested);
        var offered = Normalize(candidate ?? Unspecified, defaultVariant: true);
        return wanted.Os == offered.Os
            && wanted.Architecture == offered.Architecture
            && (wanted.Variant is null || wanted.Variant == offered.Variant);
    }

    /// <summary>The index entry for <paramref name="requested"/>, or null when none matches.</summary>
    public static Descriptor? Select(IReadOnlyList<Descriptor> manifests, Platform requested)
    {
        ArgumentNullException.ThrowIfNull(manifests);
        ArgumentNullException.ThrowIfNull(requested);
        var preferredVariant = Normalize(requested, defaultVariant: true).Variant;
        var matches = manifests.Where(m => Matches(requested, m.Platform)).ToList();
        return matches.FirstOrDefault(m => Normalize(m.Platform ?? Unspecified, defaultVariant: true).Variant == preferredVariant)
            ?? matches.FirstOrDefault();
    }

    /// <summary>The platforms an index offers, for error messages: "linux/amd64, linux/arm64/v8".</summary>
    public static string DescribeAvailable(IReadOnlyList<Descriptor> manifests)
    {
        ArgumentNullException.ThrowIfNull(manifests);
        var platforms = manifests.Select(m => (m.Platform ?? Unspecified).ToString()).Distinct(StringComparer.Ordinal).ToList();
        return platforms.Count == 0 ? "(none)" : string.Join(", ", platforms);
    }

    private static string? DefaultVariant(string architecture) => architecture switch
    {
        "arm64" => "v8",
        "arm" => "v7",
        _ => null,
    };

    private static Platform HostPlatform()
    {
        string architecture = HostArchitecture();
        return new Platform { Os = "linux", Architecture = architecture, Variant = architecture == "arm64" ? "v8" : null };
    }

    private static string HostArchitecture() => RuntimeInformation.OSArchitecture switch
    {
        Architecture.X64 => "amd64",
        Architecture.Arm64 => "arm64",
        Architecture.Arm or Architecture.Armv6 => "arm",
        Architecture.X86 => "386",
        Architecture.Ppc64le => "ppc64le",
        Architecture.S390x => "s390x",
        Architecture.RiscV64 => "riscv64",
        Architecture.LoongArch64 => "loong64",
        var other => other.ToString().ToLowerInvariant(),
    };
}
