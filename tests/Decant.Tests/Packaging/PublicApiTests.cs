using System.Xml.Linq;
using Decant.Export;

namespace Decant.Tests.Packaging;

/// <summary>
/// The library's public surface, pinned: the types a host application holds in its head. A type
/// that becomes public by accident, or loses its doc comment, fails here; a deliberate change
/// updates the list (and <c>docs/architecture.md</c>).
/// </summary>
public class PublicApiTests
{
    private static readonly string[] Expected =
    [
        "Decant.Cache.BrokenLayer",
        "Decant.Cache.CacheListing",
        "Decant.Cache.CacheStatistics",
        "Decant.Cache.CacheUsage",
        "Decant.Cache.CachedImage",
        "Decant.Cache.CachedLayer",
        "Decant.Cache.DecantCache",
        "Decant.Cache.ImageUse",
        "Decant.Cache.PruneReport",
        "Decant.Cache.SweepReport",
        "Decant.Cache.VerifyReport",
        "Decant.Export.ExportOptions",
        "Decant.Export.ExportProgress",
        "Decant.Export.ExportResult",
        "Decant.Export.ExportStage",
        "Decant.Export.ImageExporter",
        "Decant.Export.LayerProgress",
        "Decant.Export.LayerState",
        "Decant.Manifests.Descriptor",
        "Decant.Manifests.Platform",
        "Decant.Model.DecantErrorKind",
        "Decant.Model.DecantException",
        "Decant.Model.Digest",
        "Decant.Model.NameBytes",
        "Decant.Model.Timestamp",
        "Decant.References.ImageReference",
        "Decant.Semantics.XattrPolicy",
        "Decant.Sources.ContainersStorage.ContainersStorageAccess",
        "Decant.Sources.IImageSource",
        "Decant.Sources.ResolvedImage",
        "Decant.Sources.SourceOptions",
        "Decant.Tree.ContentRef",
        "Decant.Tree.IContentStore",
        "Decant.Tree.Inode",
        "Decant.Tree.MergedTree",
        "Decant.Tree.NodeKind",
        "Decant.Tree.TreeBuilder",
        "Decant.Tree.TreeNode",
        "Decant.Writers.Directory.DirectoryWriterOptions",
        "Decant.Writers.Erofs.ErofsCompression",
        "Decant.Writers.Erofs.ErofsWriterOptions",
        "Decant.Writers.Ext4.Ext4WriterOptions",
        "Decant.Writers.IRootfsWriter",
        "Decant.Writers.OutputFormat",
        "Decant.Writers.OwnershipMode",
        "Decant.Writers.Tar.TarWriterOptions",
        "Decant.Writers.Verity.VerityOptions",
        "Decant.Writers.Verity.VerityResult",
        "Decant.Writers.WriteSummary",
        "Decant.Writers.WriterOptions",
    ];

    private static IEnumerable<Type> PublicTypes => typeof(ImageExporter).Assembly.GetExportedTypes();

    [Fact]
    public void ThePublicTypesAreExactlyTheHostApi() =>
        Assert.Equal(Expected, PublicTypes.Select(t => t.FullName!).Order(StringComparer.Ordinal));

    [Fact]
    public void EveryPublicTypeSaysWhatItIsFor()
    {
        string xml = Path.ChangeExtension(typeof(ImageExporter).Assembly.Location, ".xml");
        var documented = XDocument.Load(xml).Descendants("member")
            .Where(m => m.Element("summary") is { } summary && summary.Value.Trim().Length > 0)
            .Select(m => (string)m.Attribute("name")!)
            .ToHashSet(StringComparer.Ordinal);
        var undocumented = PublicTypes.Select(t => "T:" + t.FullName).Where(name => !documented.Contains(name)).ToList();
        Assert.True(undocumented.Count == 0, "public types without a doc comment: " + string.Join(", ", undocumented));
    }
}
