using Decant.Export;
using Decant.Layers;
using Decant.Model;
using Decant.Tests.Differential;
using Decant.Tests.Layers;
using Decant.Tests.Support;
using Decant.Tests.Writers.Ext4;
using Decant.Writers;

namespace Decant.Tests.Names;

/// <summary>
/// Names are bytes, end to end: <see cref="RawNameLayers"/> (raw bytes in every tar header form,
/// whited out and made opaque by raw name) goes through the whole pipeline into every output, and
/// each output is judged by an outside oracle: the directory export must equal <c>umoci unpack</c>
/// field by field, GNU tar's extraction of the flattened tar must equal the directory export, and
/// the ext4 image must pass <c>e2fsck</c> and, mounted by Linux, equal the directory export.
/// </summary>
[Collection(UsesRealImages.Name)]
public sealed class RawNameExportTests(RealImages images) : RealImagesTest(images)
{
    [Fact]
    public async Task TheReaderKeepsEveryHeaderFormsBytes()
    {
        var entries = await TarBlocks.ReadAllAsync(RawNameLayers.Base());
        var names = entries.Select(e => e.Header.Name.TrimEnd('/')).ToHashSet(StringComparer.Ordinal);

        foreach (string expected in new[] { RawNameLayers.Latin1, RawNameLayers.LoneFF, RawNameLayers.Utf8OfFF, RawNameLayers.Overlong, RawNameLayers.Surrogate,
            RawNameLayers.PrefixDirectory + "/" + RawNameLayers.PrefixFile, RawNameLayers.GnuDirectory, RawNameLayers.GnuFile, RawNameLayers.PaxBinary, RawNameLayers.PaxRaw })
        {
            Assert.Contains(expected, names);
        }
        Assert.Equal(RawNameLayers.GnuFile, entries.Single(e => e.Header.Name == "names/gnu-hardlink").Header.LinkName);
        Assert.Equal(RawNameLayers.PaxLinkTarget, entries.Single(e => e.Header.Name == "names/pax-link").Header.LinkName);
        Assert.Equal(RawNameLayers.Latin1, entries.Single(e => e.Header.Name == RawNameLayers.Name("names/hardlink-", 0xE9)).Header.LinkName);
        var xattr = Assert.Single(entries.Single(e => e.Header.Name == "names/xattr-file").Header.Xattrs);
        Assert.Equal(RawNameLayers.XattrName, xattr.Key);
        Assert.Equal(RawNameLayers.XattrValue, xattr.Value);
        // Every name gives back its bytes: 0xE9 stays one byte, never C3 A9 or EF BF BD.
        Assert.Equal([.. "names/latin1-"u8, 0xE9, .. "-invalid-utf8.bin"u8], NameBytes.GetBytes(RawNameLayers.Latin1));
        Assert.Equal(RawNameLayers.HtreeEntries, entries.Count(e => e.Header.Kind == TarEntryKind.RegularFile && e.Header.Name.StartsWith(RawNameLayers.HtreeDirectory + "/", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task DirectoryExportEqualsUmociUnpack()
    {
        var (layout, reference) = WriteImage();
        var umoci = await DecantRuns.UmociUnpackAsync(Images, layout, SyntheticImage.DefaultTag, Token);
        var decant = await DecantRuns.ExportDirectoryAsync(Images, reference, Token);

        AssertHoldsTheRawNames(decant);
        TreeSnapshotAssert.Equal(umoci, decant);
    }

    [Fact]
    public async Task GnuTarExtractsTheFlattenedTarToTheDirectoryExport()
    {
        var (_, reference) = WriteImage();
        var directory = await DecantRuns.ExportDirectoryAsync(Images, reference, Token);
        string tar = await DecantRuns.ExportTarAsync(Images, reference, Token);
        string extracted = Images.NewScratchDirectory("gnu-tar");
        await Tools.RunCheckedAsync("tar", ["--extract", "--file", tar, "--directory", extracted, "--same-permissions", "--same-owner", "--numeric-owner",
            "--xattrs", "--xattrs-include=*", "--no-overwrite-dir"], Token);
        var gnu = await TreeSnapshot.CaptureAsync(extracted, cancellationToken: Token);

        AssertHoldsTheRawNames(gnu);
        TreeSnapshotAssert.Equal(directory, gnu);
    }

    [Fact]
    public async Task Ext4ImagePassesFsckAndMountsAsTheDirectoryExport()
    {
        var (_, reference) = WriteImage();
        string scratch = Images.NewScratchDirectory("raw-ext4");
        string image = Path.Combine(scratch, "names.ext4");
        await ImageExporter.ExportAsync(reference, new ExportOptions { Output = image, Format = OutputFormat.Ext4, Ownership = OwnershipMode.Preserve }, cancellationToken: Token);
        await Ext4Images.AssertCleanAsync(image);
        // The big directory is an htree (e2fsck has just checked its hashes over the raw bytes).
        Assert.Contains("Flags: 0x81000", await Ext4Images.DebugFsAsync(image, "stat /" + RawNameLayers.HtreeDirectory), StringComparison.Ordinal);

        string directory = Path.Combine(scratch, "rootfs");
        await ImageExporter.ExportAsync(reference, new ExportOptions { Output = directory, Format = OutputFormat.Directory, Ownership = OwnershipMode.Preserve }, cancellationToken: Token);
        await using var mounted = await Ext4Images.MountAsync(image, Path.Combine(scratch, "mnt"));
        AssertHoldsTheRawNames(await TreeSnapshot.CaptureAsync(mounted.Path, cancellationToken: Token));
        // Lookups by name go through the htree: the kernel hashes the raw bytes and must find each entry.
        for (int i = 0; i < RawNameLayers.HtreeEntries; i += 7)
        {
            byte[] path = [.. NameBytes.GetBytes(mounted.Path + "/"), .. NameBytes.GetBytes(RawNameLayers.HtreeEntry(i))];
            Assert.Equal(0x8000u, TreeSnapshotNative.LStat(path).Mode & 0xF000);
        }
        await Ext4Images.AssertSameTreeAsync(directory, mounted.Path);
    }

    [Fact]
    public async Task ErofsImagePassesFsckAndMountsAsTheDirectoryExport()
    {
        var (_, reference) = WriteImage();
        string scratch = Images.NewScratchDirectory("raw-erofs");
        string image = Path.Combine(scratch, "names.erofs");
        await ImageExporter.ExportAsync(reference, new ExportOptions { Output = image, Format = OutputFormat.Erofs, Ownership = OwnershipMode.Preserve }, cancellationToken: Token);
        await Writers.Erofs.ErofsImages.AssertCleanAsync(image);

        string directory = Path.Combine(scratch, "rootfs");
        await ImageExporter.ExportAsync(reference, new ExportOptions { Output = directory, Format = OutputFormat.Directory, Ownership = OwnershipMode.Preserve }, cancellationToken: Token);
        await using var mounted = await Writers.Erofs.ErofsImages.MountAsync(image, Path.Combine(scratch, "mnt"));
        AssertHoldsTheRawNames(await TreeSnapshot.CaptureAsync(mounted.Path, cancellationToken: Token));
        // Lookups by name binary-search the directory's blocks: the entries must be in raw byte order.
        for (int i = 0; i < RawNameLayers.HtreeEntries; i += 7)
        {
            byte[] path = [.. NameBytes.GetBytes(mounted.Path + "/"), .. NameBytes.GetBytes(RawNameLayers.HtreeEntry(i))];
            Assert.Equal(0x8000u, TreeSnapshotNative.LStat(path).Mode & 0xF000);
        }
        await Writers.Erofs.ErofsImages.AssertSameTreeAsync(directory, mounted.Path);
    }

    private (string Layout, string Reference) WriteImage()
    {
        string layout = Path.Combine(Images.NewScratchDirectory("raw-names"), "layout");
        return (layout, SyntheticImage.WriteLayout(layout, [RawNameLayers.Base(), RawNameLayers.Upper()]));
    }

    /// <summary>Guards against a vacuous pass: the compared tree holds the raw names, and not the removed ones.</summary>
    private static void AssertHoldsTheRawNames(TreeSnapshot tree)
    {
        foreach (string path in RawNameLayers.Present)
        {
            Assert.Contains(SnapshotKey(path), tree.Entries.Keys);
        }
        foreach (string path in RawNameLayers.Removed)
        {
            Assert.DoesNotContain(SnapshotKey(path), tree.Entries.Keys);
        }
        Assert.Equal(SnapshotPath.Display(NameBytes.GetBytes(RawNameLayers.PaxLinkTarget)), tree["/names/pax-link"].SymlinkTarget);
        Assert.Equal(Convert.ToHexStringLower(RawNameLayers.XattrValue), tree["/names/xattr-file"].Xattrs[SnapshotPath.Display(NameBytes.GetBytes(RawNameLayers.XattrName))]);
        Assert.Equal(RawNameLayers.HtreeEntries, tree.Entries.Keys.Count(k => k.StartsWith(SnapshotKey(RawNameLayers.HtreeDirectory) + "/", StringComparison.Ordinal)));
        string latin1 = SnapshotKey(RawNameLayers.Latin1);
        Assert.Equal([SnapshotKey(RawNameLayers.Name("names/hardlink-", 0xE9)), latin1], tree[latin1].HardlinkGroup);
    }

    private static string SnapshotKey(string path) => "/" + SnapshotPath.Display(NameBytes.GetBytes(path));
}
