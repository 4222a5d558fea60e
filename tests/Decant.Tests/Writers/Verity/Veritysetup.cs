using System.Globalization;
using Decant.Tests.Support;
using Decant.Writers.Verity;

namespace Decant.Tests.Writers.Verity;

/// <summary>
/// The oracle: cryptsetup's <c>veritysetup</c>, run in userspace (<c>format</c> and <c>verify</c>;
/// never <c>open</c>, which needs device-mapper). A missing veritysetup fails the test.
/// </summary>
internal static class Veritysetup
{
    /// <summary>
    /// Runs <c>veritysetup format</c> on <paramref name="image"/> (data and hash in the same file,
    /// the tree at <paramref name="hashOffset"/>) and returns the root hash it prints.
    /// </summary>
    public static async Task<string> FormatAsync(string image, long hashOffset, string salt, string uuid, string algorithm = "sha256")
    {
        var result = await Tools.RunCheckedAsync("veritysetup",
            ["format", "--salt", salt.Length == 0 ? "-" : salt, "--uuid", uuid, "--hash", algorithm, "--hash-offset", hashOffset.ToString(CultureInfo.InvariantCulture), image, image],
            CancellationToken.None);
        string line = result.StandardOutput.Split('\n').Single(l => l.StartsWith("Root hash:", StringComparison.Ordinal));
        return line["Root hash:".Length..].Trim();
    }

    /// <summary>Runs <c>veritysetup verify IMAGE IMAGE ROOTHASH --hash-offset N</c>, as the README tells users to, and returns what it did.</summary>
    public static Task<ToolResult> VerifyAsync(string image, VerityResult verity) =>
        Tools.RunAsync("veritysetup",
            ["verify", image, image, verity.RootHash, "--hash-offset", verity.HashOffset.ToString(CultureInfo.InvariantCulture)],
            CancellationToken.None);

    /// <summary>Fails unless <c>veritysetup verify</c> accepts the image with these parameters.</summary>
    public static async Task AssertVerifiesAsync(string image, VerityResult verity)
    {
        var result = await VerifyAsync(image, verity);
        Assert.True(result.ExitCode == 0, $"{result.CommandLine} exited with {result.ExitCode}:\n{result.StandardError}{result.StandardOutput}");
    }

    /// <summary>The UUID in the verity superblock at <paramref name="hashOffset"/>, in the form <c>veritysetup --uuid</c> takes.</summary>
    public static string UuidAt(string image, long hashOffset)
    {
        using var file = File.OpenHandle(image);
        byte[] uuid = new byte[16];
        RandomAccess.Read(file, uuid, hashOffset + 16);
        string hex = Convert.ToHexStringLower(uuid);
        return $"{hex[..8]}-{hex[8..12]}-{hex[12..16]}-{hex[16..20]}-{hex[20..]}";
    }

    /// <summary>Copies the first <paramref name="bytes"/> bytes of <paramref name="image"/> (the data, without the tree after it) to a new file, for veritysetup to format.</summary>
    public static async Task CopyDataAsync(string image, string copy, long bytes)
    {
        await using var input = File.OpenRead(image);
        await using var output = File.Create(copy);
        byte[] buffer = new byte[1 << 20];
        for (long left = bytes; left > 0;)
        {
            int read = await input.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, left)));
            Assert.True(read > 0, $"{image} is shorter than its hash offset");
            await output.WriteAsync(buffer.AsMemory(0, read));
            left -= read;
        }
    }
}
