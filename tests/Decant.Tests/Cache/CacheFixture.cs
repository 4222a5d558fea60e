using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Decant.Cache;
using Decant.Layers;
using Decant.Tests.Support;

namespace Decant.Tests.Cache;

/// <summary>Fills a cache the way an export does (through the indexer and the split stream recorder), and measures its files with coreutils' stat.</summary>
internal static class CacheFixture
{
    /// <summary>A tar of regular files with the given contents.</summary>
    public static byte[] Layer(params (string Name, string Content)[] files)
    {
        var tar = new LayerTar();
        foreach (var (name, content) in files)
        {
            tar.File(name, content);
        }
        return tar.ToArray();
    }

    /// <summary>The diff_id of an uncompressed layer.</summary>
    public static string DiffIdOf(byte[] tar) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(tar));

    /// <summary>The object name of a file's content: its fs-verity digest.</summary>
    public static string ObjectOf(string content)
    {
        var digest = new FsVerityDigest();
        digest.Append(Encoding.UTF8.GetBytes(content));
        return digest.Finish();
    }

    /// <summary>Reads <paramref name="tar"/> through the indexer into the cache's objects and publishes its record under <paramref name="diffId"/> (its own by default); returns the diff_id.</summary>
    public static async Task<string> ConvertAsync(LayerCache cache, byte[] tar, string? diffId = null)
    {
        diffId ??= DiffIdOf(tar);
        await cache.PublishAsync(diffId, async (file, cancellationToken) =>
        {
            await using var recorder = new SplitStreamRecorder(file);
            await LayerIndexer.IndexAsync("sha256:test", new MemoryStream(tar), DiffIdOf(tar), new ObjectContentStore(cache.Objects), new UnpackBudget(long.MaxValue), TarReaderLimits.Default, CancellationToken.None, recorder: recorder);
        }, CancellationToken.None);
        return diffId;
    }

    /// <summary>Makes a layer look last used at <paramref name="time"/>.</summary>
    public static void SetLastUse(LayerCache cache, string diffId, DateTimeOffset time) => File.SetLastWriteTimeUtc(cache.RecordPath(diffId), time.UtcDateTime);

    /// <summary>The disk space of <paramref name="paths"/> together, as stat(1) reports their blocks.</summary>
    public static async Task<long> AllocatedAsync(params string[] paths)
    {
        if (paths.Length == 0)
        {
            return 0;
        }
        string output = await ExternalTool.RunAsync("stat", ["--format=%b %B", .. paths]);
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => line.Split(' '))
            .Sum(fields => long.Parse(fields[0], CultureInfo.InvariantCulture) * long.Parse(fields[1], CultureInfo.InvariantCulture));
    }

    /// <summary>The files under the cache's <c>objects/</c>.</summary>
    public static string[] ObjectFiles(LayerCache cache) => Directory.GetFiles(Path.Combine(cache.Root, "objects"), "*", SearchOption.AllDirectories);
}
