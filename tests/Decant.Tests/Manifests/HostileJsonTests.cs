using System.Text.Json;
using System.Text.Json.Nodes;
using Decant.Manifests;
using Decant.Model;
using Decant.References;
using Decant.Sources;
using Decant.Tests.Support;

namespace Decant.Tests.Manifests;

/// <summary>
/// JSON that parses but does not hold what an image needs: null where a list, object or string
/// belongs, or a value of the wrong type. Each is an invalid manifest (exit 4) naming the
/// document and the field, never a NullReferenceException (exit 70).
/// </summary>
public class HostileJsonTests
{
    public enum Document
    {
        IndexJson,
        Index,
        Manifest,
        Config,
    }

    /// <summary>A document, a change to it, and the field the error must name.</summary>
    public record JsonCase(string Name, Document Document, Action<JsonObject> Edit, string Field)
    {
        public override string ToString() => Name;
    }

    public static TheoryData<JsonCase> Cases() => new(AllCases());

    internal static JsonCase[] AllCases() =>
    [
        new("index.json manifests: null", Document.IndexJson, d => d["manifests"] = null, "manifests"),
        new("index.json manifests: a string", Document.IndexJson, d => d["manifests"] = "none", "manifests"),
        new("index.json digest: null", Document.IndexJson, d => d["manifests"]![0]!["digest"] = null, "digest"),
        new("index.json size: a string", Document.IndexJson, d => d["manifests"]![0]!["size"] = "12", "size"),
        new("index manifests: null", Document.Index, d => d["manifests"] = null, "manifests"),
        new("index platform os: null", Document.Index, d => d["manifests"]![0]!["platform"]!["os"] = null, "os"),
        new("manifest layers: null", Document.Manifest, d => d["layers"] = null, "layers"),
        new("manifest config: null", Document.Manifest, d => d["config"] = null, "config"),
        new("manifest layer mediaType: null", Document.Manifest, d => d["layers"]![0]!["mediaType"] = null, "mediaType"),
        new("manifest layer digest: a number", Document.Manifest, d => d["layers"]![0]!["digest"] = 5, "digest"),
        new("manifest layers: an object", Document.Manifest, d => d["layers"] = new JsonObject(), "layers"),
        new("config diff_ids: null", Document.Config, d => d["rootfs"]!["diff_ids"] = null, "diff_ids"),
        new("config diff_ids: [null]", Document.Config, d => d["rootfs"]!["diff_ids"] = new JsonArray((JsonNode?)null), "diff_ids[0]"),
        new("config rootfs: a list", Document.Config, d => d["rootfs"] = new JsonArray(), "rootfs"),
        new("config Env: [null]", Document.Config, d => d["config"] = new JsonObject { ["Env"] = new JsonArray((JsonNode?)null) }, "Env[0]"),
        new("config Cmd: a number", Document.Config, d => d["config"] = new JsonObject { ["Cmd"] = 1 }, "Cmd"),
    ];

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task NullOrWrongTypeIsAnInvalidManifestNamingTheDocumentAndField(JsonCase testCase)
    {
        using var layout = new SyntheticImage();
        string reference = WriteImage(layout, testCase);

        var error = await Assert.ThrowsAsync<DecantException>(async () =>
        {
            await using var source = await ImageSources.OpenAsync(ImageReference.Parse(reference), CancellationToken.None);
            await ImageResolver.ResolveAsync(source, null, CancellationToken.None);
        });

        Assert.Equal(DecantErrorKind.InvalidManifest, error.Kind);
        string document = testCase.Document switch
        {
            Document.IndexJson => "index.json",
            Document.Index => "index sha256:",
            Document.Manifest => "manifest sha256:",
            _ => "config sha256:",
        };
        Assert.Contains(document, error.Message, StringComparison.Ordinal);
        Assert.Contains(testCase.Field, error.Message, StringComparison.Ordinal);
    }

    /// <summary>Writes an image with the case's broken document into <paramref name="layout"/>; returns its reference.</summary>
    internal static string WriteImage(SyntheticImage layout, JsonCase testCase)
    {
        var image = layout.AddImage("linux", "amd64");
        return testCase.Document switch
        {
            Document.IndexJson => WriteIndexJson(layout, image.Manifest, testCase.Edit),
            Document.Index => Tag(layout, Rewrite(layout, layout.AddIndex((image.Manifest, new Platform { Os = "linux", Architecture = "amd64" })), testCase.Edit)),
            Document.Manifest => Tag(layout, Rewrite(layout, image.Manifest, testCase.Edit)),
            Document.Config => Tag(layout, Rewrite(layout, image.Manifest, m =>
            {
                var config = Rewrite(layout, image.Config, testCase.Edit);
                m["config"] = JsonSerializer.SerializeToNode(config, ManifestJsonContext.Default.Descriptor);
            })),
            _ => throw new ArgumentOutOfRangeException(nameof(testCase)),
        };
    }

    private static string Tag(SyntheticImage layout, Descriptor descriptor)
    {
        layout.Tag(descriptor, "t");
        return layout.Reference("t");
    }

    /// <summary>Stores an edited copy of a blob; returns its descriptor.</summary>
    private static Descriptor Rewrite(SyntheticImage layout, Descriptor descriptor, Action<JsonObject> edit)
    {
        var document = JsonNode.Parse(File.ReadAllBytes(layout.BlobPath(descriptor)))!.AsObject();
        edit(document);
        return layout.AddBlob(System.Text.Encoding.UTF8.GetBytes(document.ToJsonString()), descriptor.MediaType);
    }

    private static string WriteIndexJson(SyntheticImage layout, Descriptor manifest, Action<JsonObject> edit)
    {
        var document = new JsonObject
        {
            ["schemaVersion"] = 2,
            ["manifests"] = new JsonArray(JsonSerializer.SerializeToNode(manifest, ManifestJsonContext.Default.Descriptor)),
        };
        edit(document);
        File.WriteAllBytes(Path.Combine(layout.Root, "index.json"), System.Text.Encoding.UTF8.GetBytes(document.ToJsonString()));
        return layout.Reference();
    }
}
