using System.Diagnostics;
using System.Globalization;
using Decant.Blobs;
using Decant.Manifests;
using Decant.References;
using Decant.Sources;

// Usage: DecodeFloor oci:DIR:TAG  -> prints "seconds uncompressed_bytes" for decompressing all layers on one thread.
if (args.Length != 1)
{
    Console.Error.WriteLine("usage: DecodeFloor IMAGE");
    return 2;
}
await using var source = await ImageSources.OpenAsync(ImageReference.ParseWithBareNames(args[0]), CancellationToken.None);
var image = await ImageResolver.ResolveAsync(source, null, CancellationToken.None);
var clock = Stopwatch.StartNew();
long total = 0;
byte[] buffer = new byte[1 << 20];
foreach (var layer in image.Layers)
{
    await using var blob = await source.OpenBlobAsync(layer, CancellationToken.None);
    await using var plain = await Decompression.OpenAsync(blob, leaveOpen: false, CancellationToken.None);
    int read;
    while ((read = await plain.ReadAsync(buffer)) > 0)
    {
        total += read;
    }
}
Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{clock.Elapsed.TotalSeconds:F2} {total}"));
return 0;
