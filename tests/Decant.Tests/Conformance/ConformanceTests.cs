using Decant.Export;
using Decant.Model;
using Decant.Tests.Support;
using Decant.Writers;

namespace Decant.Tests.Conformance;

/// <summary>
/// The layer rules, table-driven: layers in, expected tree or expected error out, each case run
/// through the whole pipeline for every registered output format, each read back by its own oracle.
/// </summary>
public class ConformanceTests
{
    public record LayerCase(string Name, LayerTar[] Layers, string[]? Expect = null, DecantErrorKind? Error = null, string? ErrorText = null)
    {
        public override string ToString() => Name;
    }

    public static TheoryData<LayerCase, OutputFormat> Cases()
    {
        var data = new TheoryData<LayerCase, OutputFormat>();
        foreach (var c in All())
        {
            foreach (var format in Formats.All)
            {
                data.Add(c, format);
            }
        }
        return data;
    }

    private static IEnumerable<LayerCase> All()
    {
        yield return new("plain whiteout hides the lower file",
            [new LayerTar().Dir("a").File("a/x", "1").File("a/y", "2"), new LayerTar().Whiteout("a/x")],
            ["d a 0755", "f a/y 0644 =2"]);
        yield return new("whiteout of a directory hides its whole subtree",
            [new LayerTar().Dir("a").Dir("a/b").File("a/b/c", "1"), new LayerTar().Whiteout("a/b")],
            ["d a 0755"]);
        yield return new("1: foo and .wh.foo in one layer keep foo (whiteout after)",
            [new LayerTar().File("foo", "old"), new LayerTar().File("foo", "new").Whiteout("foo")],
            ["f foo 0644 =new"]);
        yield return new("1: foo and .wh.foo in one layer keep foo (whiteout before)",
            [new LayerTar().File("foo", "old"), new LayerTar().Whiteout("foo").File("foo", "new")],
            ["f foo 0644 =new"]);
        yield return new("2: the same path twice in one layer, the last wins",
            [new LayerTar().File("f", "first").File("f", "second", mode: 0b111_000_000)],
            ["f f 0700 =second"]);
        yield return new("2: a directory then a file at the same path in one layer",
            [new LayerTar().Dir("p").File("p/child", "c").File("p", "file")],
            ["f p 0644 =file"]);
        yield return new("3: opaque whiteout after the layer's own new files keeps them",
            [new LayerTar().Dir("d").File("d/old", "o").Dir("d/olddir").File("d/olddir/x"),
             new LayerTar().Dir("d").File("d/new", "n").Opaque("d")],
            ["d d 0755", "f d/new 0644 =n"]);
        yield return new("3: opaque keeps new files whose parents the layer did not list",
            [new LayerTar().Dir("d").Dir("d/sub").File("d/sub/old", "o"),
             new LayerTar().File("d/sub/new", "n").Opaque("d")],
            ["d d 0755", "d d/sub 0755", "f d/sub/new 0644 =n"]);
        yield return new("3: opaque on a directory the lower layers lack changes nothing else",
            [new LayerTar().File("keep", "k"), new LayerTar().Dir("fresh").Opaque("fresh").File("fresh/a", "a")],
            ["d fresh 0755", "f fresh/a 0644 =a", "f keep 0644 =k"]);
        yield return new("4: an entry under a lower file replaces the file with a directory",
            [new LayerTar().File("a", "file"), new LayerTar().File("a/b", "inside")],
            ["d a 0755", "f a/b 0644 =inside"]);
        yield return new("4: a symlink on the way is followed inside the root",
            [new LayerTar().Dir("usr").Dir("usr/lib").Symlink("lib", "usr/lib"), new LayerTar().File("lib/libx.so", "x")],
            ["d usr 0755", "d usr/lib 0755", "f usr/lib/libx.so 0644 =x", "l lib -> usr/lib"]);
        yield return new("4: an absolute symlink on the way resolves from the image root",
            [new LayerTar().Dir("etc").Symlink("link", "/etc"), new LayerTar().File("link/conf", "c")],
            ["d etc 0755", "f etc/conf 0644 =c", "l link -> /etc"]);
        yield return new("5: a hardlink to a lower-layer file shares its inode",
            [new LayerTar().File("orig", "data"), new LayerTar().Hardlink("copy", "orig")],
            ["f copy 0644 =data", "h orig => copy"]);
        yield return new("5: a hardlink keeps its content when its target is later replaced",
            [new LayerTar().File("orig", "v1").Hardlink("link", "orig"), new LayerTar().File("orig", "v2")],
            ["f link 0644 =v1", "f orig 0644 =v2"]);
        yield return new("5: a hardlink whose target this layer whited out is an error",
            [new LayerTar().File("t", "x"), new LayerTar().Hardlink("l", "t").Whiteout("t")],
            Error: DecantErrorKind.UnsafeLayer, ErrorText: "hardlink target \"t\" does not exist");
        yield return new("5: a hardlink to a missing target is an error",
            [new LayerTar().Hardlink("l", "nowhere")],
            Error: DecantErrorKind.UnsafeLayer, ErrorText: "\"nowhere\"");
        yield return new("5: a hardlink to a directory is an error",
            [new LayerTar().Dir("d").Hardlink("l", "d")],
            Error: DecantErrorKind.UnsafeLayer, ErrorText: "is a directory");
        yield return new("6: a file replaces a directory and its subtree",
            [new LayerTar().Dir("x").File("x/inner", "i"), new LayerTar().File("x", "file")],
            ["f x 0644 =file"]);
        yield return new("6: a directory replaces a file",
            [new LayerTar().File("x", "file"), new LayerTar().Dir("x", mode: 0b111_000_000).File("x/y", "y")],
            ["d x 0700", "f x/y 0644 =y"]);
        yield return new("6: a symlink replaces a directory",
            [new LayerTar().Dir("x").File("x/y", "y"), new LayerTar().Symlink("x", "elsewhere")],
            ["l x -> elsewhere"]);
        yield return new("6: a directory replaces a symlink without following it",
            [new LayerTar().Dir("real").File("real/f", "f").Symlink("x", "real"), new LayerTar().Dir("x")],
            ["d real 0755", "d x 0755", "f real/f 0644 =f"]);
        yield return new("6: a directory over a directory updates metadata and keeps children",
            [new LayerTar().Dir("d").File("d/keep", "k"), new LayerTar().Dir("d", mode: 0b111_101_000)],
            ["d d 0750", "f d/keep 0644 =k"]);
        yield return new("7: modes are exact, setuid, setgid and sticky included",
            [new LayerTar().File("suid", "s", mode: 0b100_111_101_101).File("sgid", "g", mode: 0b010_111_101_101).Dir("tmp", mode: 0b001_111_111_111).File("private", "p", mode: 0b110_000_000)],
            ["d tmp 1777", "f private 0600 =p", "f sgid 2755 =g", "f suid 4755 =s"]);
        // The directory writer writes a content at its entry's path while the layers are read, before
        // the rules are applied: these move a content written there, or clear what is in the way.
        yield return new("5: a hardlink keeps its content when its first path is whited out",
            [new LayerTar().Dir("a").File("a/f", "x").Hardlink("a/h", "a/f"), new LayerTar().Whiteout("a/f")],
            ["d a 0755", "f a/h 0644 =x"]);
        yield return new("4: a symlink on the way that sorts after its target moves the file there",
            [new LayerTar().Dir("usr").Dir("usr/lib").Symlink("zlib", "usr/lib"), new LayerTar().File("zlib/libx.so", "x")],
            ["d usr 0755", "d usr/lib 0755", "f usr/lib/libx.so 0644 =x", "l zlib -> usr/lib"]);
        yield return new("6: a file over a directory whose files a hardlink keeps",
            [new LayerTar().Dir("d").Dir("d/e").File("d/e/f", "x").Hardlink("keep", "d/e/f"), new LayerTar().File("d", "file")],
            ["f d 0644 =file", "f keep 0644 =x"]);
        yield return new("a layer's file at a path a lower layer whites out in a later layer",
            [new LayerTar().Dir("a").Dir("a/b").File("a/b/c", "1"), new LayerTar().File("a/b/d", "2"), new LayerTar().Whiteout("a")],
            []);
        yield return new("a whiteout beneath a symlink hides nothing and is not followed",
            [new LayerTar().Dir("real").File("real/x", "x").Symlink("link", "real"), new LayerTar().Whiteout("link/x")],
            ["d real 0755", "f real/x 0644 =x", "l link -> real"]);
        yield return new("umoci's case: a whiteout under a directory that just became a symlink",
            [new LayerTar().Dir("d").File("d/x", "x").Dir("other").File("other/x", "keep"),
             new LayerTar().Symlink("d", "other").Whiteout("d/x")],
            ["d other 0755", "f other/x 0644 =keep", "l d -> other"]);
        yield return new("an opaque whiteout beneath a file hides nothing",
            [new LayerTar().File("f", "f"), new LayerTar().Opaque("f")],
            ["f f 0644 =f"]);
        yield return new("aufs metadata entries are ignored",
            [new LayerTar().File("a", "a"), new LayerTar().File(".wh..wh.plnk/123.456", "")],
            ["f a 0644 =a"]);
        yield return new("invalid whiteout .wh. is an error",
            [new LayerTar().File("dir/.wh.")], Error: DecantErrorKind.UnsafeLayer, ErrorText: "invalid whiteout name \".wh.\"");
        yield return new("invalid whiteout .wh.. is an error",
            [new LayerTar().File(".wh..")], Error: DecantErrorKind.UnsafeLayer, ErrorText: "invalid whiteout name");
        yield return new("invalid whiteout .wh... is an error",
            [new LayerTar().File("sub/.wh...")], Error: DecantErrorKind.UnsafeLayer, ErrorText: "invalid whiteout name");
        yield return new("a fifo and a symlink with an absolute target are kept as they are",
            [new LayerTar().Fifo("run/fifo").Symlink("abs", "/etc/passwd")],
            ["d run 0755", "l abs -> /etc/passwd", "p run/fifo 0644"]);
        yield return new("a root entry that is not a directory is an error",
            [new LayerTar().File("./", "x")], Error: DecantErrorKind.UnsafeLayer, ErrorText: "root must be a directory");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task LayersGiveTheExpectedTree(LayerCase testCase, OutputFormat format)
    {
        using var scratch = new ScratchDirectory();
        string reference = SyntheticImage.WriteLayout(scratch.Combine("image"), testCase.Layers.Select(l => l.ToArray()));
        string output = scratch.Combine(Formats.OutputName(format));
        var options = new ExportOptions { Output = output, Format = format };

        if (testCase.Error is { } kind)
        {
            var error = await Assert.ThrowsAsync<DecantException>(() => ImageExporter.ExportAsync(reference, options));
            Assert.Equal(kind, error.Kind);
            Assert.Contains(testCase.ErrorText!, error.Describe(), StringComparison.Ordinal);
            Assert.StartsWith("layer sha256:", error.Describe(), StringComparison.Ordinal);
            Assert.False(Path.Exists(output), "a failed export must leave nothing behind");
            Assert.Equal(["image"], Directory.GetFileSystemEntries(scratch.Path).Select(Path.GetFileName));
            return;
        }

        await ImageExporter.ExportAsync(reference, options);
        var actual = await RootfsListing.FromOutputAsync(format, output);
        Assert.Equal(testCase.Expect!.Order(StringComparer.Ordinal), actual);
    }

    /// <summary>
    /// Every case again through the layer cache: a cold export fills it, a warm one reads every layer
    /// from it, and both give what an export without the cache gives (the same tree; for a file
    /// format the same bytes), or the same error, leaving the cache sound.
    /// </summary>
    [Theory]
    [MemberData(nameof(Cases))]
    public async Task TheLayerCacheGivesTheSameResult(LayerCase testCase, OutputFormat format)
    {
        using var scratch = new ScratchDirectory();
        string reference = SyntheticImage.WriteLayout(scratch.Combine("image"), testCase.Layers.Select(l => l.ToArray()));
        var cache = Decant.Cache.DecantCache.Open(scratch.Combine("cache"));
        ExportOptions Options(string name, Decant.Cache.DecantCache? through) => new() { Output = scratch.Combine(name + "-" + Formats.OutputName(format)), Format = format, Cache = through };

        if (testCase.Error is { } kind)
        {
            foreach (string run in new[] { "cold", "warm" })
            {
                var error = await Assert.ThrowsAsync<DecantException>(() => ImageExporter.ExportAsync(reference, Options(run, cache)));
                Assert.Equal(kind, error.Kind);
                Assert.Contains(testCase.ErrorText!, error.Describe(), StringComparison.Ordinal);
                Assert.False(Path.Exists(Options(run, cache).Output), "a failed export must leave nothing behind");
            }
            // A layer that cannot be read leaves no record; one that reads but breaks the rules is kept
            // as the exact tar it is, and fails again each time it is applied. Either way the cache is sound.
            Assert.True((await cache.VerifyAsync()).Clean);
            return;
        }

        await ImageExporter.ExportAsync(reference, Options("plain", null));
        var cold = await ImageExporter.ExportAsync(reference, Options("cold", cache));
        var warm = await ImageExporter.ExportAsync(reference, Options("warm", cache));

        Assert.Equal((testCase.Layers.Length, 0L), (cold.Cache.LayersConverted, cold.Cache.LayersFromCache));
        Assert.Equal((0L, testCase.Layers.Length), (warm.Cache.LayersConverted, warm.Cache.LayersFromCache));
        if (format.IsDirectory)
        {
            Assert.Equal(testCase.Expect!.Order(StringComparer.Ordinal), await RootfsListing.FromOutputAsync(format, Options("cold", cache).Output));
            Assert.Equal(testCase.Expect!.Order(StringComparer.Ordinal), await RootfsListing.FromOutputAsync(format, Options("warm", cache).Output));
        }
        else
        {
            byte[] plain = await File.ReadAllBytesAsync(Options("plain", null).Output);
            byte[] coldBytes = await File.ReadAllBytesAsync(Options("cold", cache).Output);
            byte[] warmBytes = await File.ReadAllBytesAsync(Options("warm", cache).Output);
            Assert.True(plain.AsSpan().SequenceEqual(coldBytes), "a cold export through the cache must give the same bytes");
            Assert.True(plain.AsSpan().SequenceEqual(warmBytes), "a warm export from the cache must give the same bytes");
        }
    }
}
