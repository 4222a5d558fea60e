using System.Text.Encodings.Web;
using System.Text.Json;

namespace Decant.Cli;

/// <summary>One JSON document on stdout, for programs (<c>decant inspect</c>, <c>decant cache … --json</c>).</summary>
internal static class JsonOutput
{
    /// <summary>Writes the document <paramref name="write"/> produces, indented, and a newline.</summary>
    public static void Write(Action<Utf8JsonWriter> write)
    {
        using var stdout = Console.OpenStandardOutput();
        using (var json = new Utf8JsonWriter(stdout, new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            write(json);
        }
        stdout.WriteByte((byte)'\n');
    }
}
