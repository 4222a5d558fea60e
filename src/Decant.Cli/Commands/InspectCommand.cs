using System.CommandLine;
using System.Text.Json;
using Decant.Manifests;
using Decant.References;
using Decant.Sources;

namespace Decant.Cli.Commands;

/// <summary><c>decant inspect IMAGE</c>: the resolved index, manifest, config and layers as JSON.</summary>
internal static class InspectCommand
{
    public static Command Create()
    {
        var image = SharedOptions.Image();
        var platform = SharedOptions.Platform();
        var command = new Command("inspect", "Print the resolved index, manifest, config and layers of an image as JSON") { image, platform };
        var registry = new RegistryOptions();
        registry.AddTo(command);
        HelpLayout.Group(command, ("Image options", [platform]), ("Registry options", registry.All));
        command.SetAction((parse, cancellationToken) => CommandErrors.RunAsync(ProgressMode.Plain, "decant inspect", async () =>
        {
            string reference = parse.GetValue(image)!;
            var options = await registry.ReadAsync(parse, reference, ProgressMode.Plain, cancellationToken).ConfigureAwait(false);
            await using var source = await ImageSources.OpenAsync(ImageReference.ParseWithBareNames(reference), options, cancellationToken).ConfigureAwait(false);
            var resolved = await ImageResolver.ResolveAsync(source, SharedOptions.ParsePlatform(parse.GetValue(platform)), cancellationToken).ConfigureAwait(false);
            using var stdout = Console.OpenStandardOutput();
            using (var json = new Utf8JsonWriter(stdout, new JsonWriterOptions { Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
            {
                Write(json, source.Name, resolved);
            }
            stdout.WriteByte((byte)'\n');
            return 0;
        }, cancellationToken));
        return command;
    }

    private static void Write(Utf8JsonWriter json, string name, ResolvedImage image)
    {
        json.WriteStartObject();
        json.WriteString("name", name);
        json.WriteString("platform", image.Platform.ToString());
        json.WriteString("manifestDigest", image.ManifestBlob.Descriptor.Digest);
        if (image.IndexBlob is { } index)
        {
            json.WriteString("indexDigest", index.Descriptor.Digest);
            json.WritePropertyName("index");
            WriteRaw(json, index.Bytes);
        }
        json.WritePropertyName("manifest");
        WriteRaw(json, image.ManifestBlob.Bytes);
        json.WritePropertyName("config");
        WriteRaw(json, image.ConfigBytes);
        json.WriteStartArray("layers");
        for (int i = 0; i < image.Layers.Count; i++)
        {
            var layer = image.Layers[i];
            json.WriteStartObject();
            json.WriteString("digest", layer.Digest);
            json.WriteString("mediaType", layer.MediaType);
            json.WriteNumber("size", layer.Size);
            if (i < image.DiffIds.Count)
            {
                json.WriteString("diffId", image.DiffIds[i].ToString());
            }
            json.WriteEndObject();
        }
        json.WriteEndArray();
        json.WriteEndObject();
    }

    private static void WriteRaw(Utf8JsonWriter json, byte[] document)
    {
        using var parsed = JsonDocument.Parse(document);
        parsed.WriteTo(json);
    }
}
