using System.IO.Compression;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using Decant.Tests.Support;

namespace Decant.Tests.Packaging;

/// <summary>
/// <c>dotnet pack</c> of the solution (from the build the tests run on) makes what nuget.org users
/// expect of both packages, <c>Decant</c> and the <c>Decant.Tool</c> dotnet tool: a .nupkg with the
/// package readme, a PNG icon, project and repository URLs with the commit, tags and a description
/// naming every output, and a .snupkg with portable PDBs; and pack says nothing it warns about.
/// </summary>
public sealed partial class PackageTests
{
    private const string ProjectUrl = "https://github.com/decant-dev/decant";

    [Fact]
    public async Task PackMakesBothPackagesWithReadmeIconRepositoryTagsAndSymbols()
    {
        string root = RealImages.FindRepositoryRoot();
        // Pack what the tests were built from: Release or Debug, as the test assembly's own folder says.
        string configuration = new DirectoryInfo(AppContext.BaseDirectory).Parent!.Name;
        using var output = new Support.ScratchDirectory();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        var pack = await Tools.RunAsync("dotnet", ["pack", Path.Combine(root, "Decant.slnx"), "-c", configuration, "--no-build", "-o", output.Path, "--nologo"], timeout.Token);
        Assert.True(pack.ExitCode == 0, $"dotnet pack exited with {pack.ExitCode}:\n{pack.StandardOutput}{pack.StandardError}");
        string printed = pack.StandardOutput + pack.StandardError;
        // Any line that speaks of a warning, except a build summary's "0 Warning(s)".
        Assert.False(printed.Split('\n').Any(line => WarningWord().IsMatch(line) && !NoWarnings().IsMatch(line)), "dotnet pack warned:\n" + printed);
        Assert.DoesNotContain("missing a readme", printed, StringComparison.OrdinalIgnoreCase);

        string commit = (await Tools.RunCheckedAsync("git", ["-C", root, "rev-parse", "HEAD"], timeout.Token)).StandardOutput.Trim();
        byte[] readme = await File.ReadAllBytesAsync(Path.Combine(root, "packaging", "README.md"), timeout.Token);
        foreach (var (id, libraryFolder, pdbs) in new[]
        {
            ("Decant", "lib/net10.0/", new[] { "Decant.Core.pdb" }),
            ("Decant.Tool", "tools/net10.0/any/", new[] { "Decant.Core.pdb", "decant.pdb" }),
        })
        {
            string package = Path.Combine(output.Path, $"{id}.0.1.0.nupkg");
            string symbols = Path.Combine(output.Path, $"{id}.0.1.0.snupkg");
            Assert.True(File.Exists(package), $"no {package}");
            Assert.True(File.Exists(symbols), $"no {symbols}");

            using var nupkg = ZipFile.OpenRead(package);
            var metadata = Metadata(nupkg, id);
            Assert.Equal("README.md", Value(metadata, "readme"));
            Assert.Equal("icon.png", Value(metadata, "icon"));
            Assert.Equal(ProjectUrl, Value(metadata, "projectUrl"));
            var repository = Element(metadata, "repository");
            Assert.Equal("git", (string?)repository.Attribute("type"));
            Assert.Equal(ProjectUrl, (string?)repository.Attribute("url"));
            Assert.Equal(commit, (string?)repository.Attribute("commit"));
            Assert.Superset(new HashSet<string> { "oci", "docker", "container", "rootfs", "ext4", "runc" }, Value(metadata, "tags").Split(' ').ToHashSet());
            string description = Value(metadata, "description");
            foreach (string kind in new[] { "directory", "tar", "ext4", "runtime bundle" })
            {
                Assert.Contains(kind, description, StringComparison.Ordinal);
            }
            Assert.DoesNotContain("example.invalid", metadata.ToString(), StringComparison.Ordinal);
            Assert.Equal(readme, ReadEntry(nupkg, "README.md"));
            AssertPng(ReadEntry(nupkg, "icon.png"));

            using var snupkg = ZipFile.OpenRead(symbols);
            foreach (string pdb in pdbs)
            {
                // A portable PDB (what symbol servers take) starts with the metadata signature "BSJB".
                Assert.Equal("BSJB"u8.ToArray(), ReadEntry(snupkg, libraryFolder + pdb)[..4]);
            }
        }
    }

    private static XElement Metadata(ZipArchive nupkg, string id)
    {
        var entry = nupkg.GetEntry(id + ".nuspec") ?? throw new InvalidOperationException($"{id}.nupkg has no {id}.nuspec");
        using var stream = entry.Open();
        return Element(XDocument.Load(stream).Root!, "metadata");
    }

    private static XElement Element(XElement parent, string name) =>
        parent.Elements().SingleOrDefault(e => e.Name.LocalName == name) ?? throw new InvalidOperationException($"the nuspec has no <{name}>:\n{parent}");

    private static string Value(XElement metadata, string name) => Element(metadata, name).Value;

    private static byte[] ReadEntry(ZipArchive archive, string name)
    {
        var entry = archive.GetEntry(name) ?? throw new InvalidOperationException($"the package has no {name}: {string.Join(", ", archive.Entries.Select(e => e.FullName))}");
        using var stream = entry.Open();
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }

    /// <summary>A real PNG: the signature, then an IHDR chunk of a square image nuget.org can show (it asks for 128×128).</summary>
    private static void AssertPng(byte[] png)
    {
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A }, png[..8]);
        Assert.Equal("IHDR"u8.ToArray(), png[12..16]);
        int width = System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(16));
        int height = System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(20));
        Assert.Equal((128, 128), (width, height));
    }

    [GeneratedRegex(@"\bwarn(ing)?\b", RegexOptions.IgnoreCase)]
    private static partial Regex WarningWord();

    [GeneratedRegex(@"^\s*0 Warning\(s\)\s*$")]
    private static partial Regex NoWarnings();
}
