using System.CommandLine;
using System.Text.Json;
using Decant.Export;
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
            if (await UserNamespace.RunInsideIfNeededAsync(reference, cancellationToken).ConfigureAwait(false) is { } exitCode)
            {
                return exitCode;
            }
            var options = await registry.ReadAsync(parse, reference, ProgressMode.Plain, cancellationToken).ConfigureAwait(false);
            var resolved = await ImageExporter.ResolveAsync(reference, options, SharedOptions.ParsePlatform(parse.GetValue(platform)), cancellationToken).ConfigureAwait(false);
            JsonOutput.Write(json => Write(json, resolved));
            return 0;
        }, cancellationToken));
        return command;
    }

    private static void Write(Utf8JsonWriter json, ResolvedImage image)
    {
        json.WriteStartObject();
        json.WriteString("name", image.Name);
        json.WriteString("platform", image.Platform.ToString());
        json.WriteString("manifestDigest", image.ManifestDigest);
        if (image.IndexBytes is { } index)
        {
            json.WriteString("indexDigest", image.IndexDigest);
            json.WritePropertyName("index");
            WriteRaw(json, index);
        }
        json.WritePropertyName("manifest");
        WriteRaw(json, image.ManifestBytes);
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
