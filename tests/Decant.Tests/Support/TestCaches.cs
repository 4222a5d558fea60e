using System.Runtime.CompilerServices;

namespace Decant.Tests.Support;

/// <summary>
/// Keeps every decant the tests start away from the machine's layer cache (/var/cache/decant as
/// root): the test host's own <c>DECANT_CACHE</c> points into a private directory, inherited by any
/// child, and <see cref="Fresh"/> gives each CLI run an empty cache of its own, so a test sees what a
/// first export does unless it shares a cache on purpose. All of it is removed when the tests end.
/// </summary>
internal static class TestCaches
{
    private static readonly string Root = Directory.CreateTempSubdirectory("decant-test-caches-").FullName;
    private static long _counter;

    /// <summary>Sets the test host's <c>DECANT_CACHE</c> before any test runs, and removes every cache at exit.</summary>
    [ModuleInitializer]
    internal static void Isolate()
    {
        Environment.SetEnvironmentVariable("DECANT_CACHE", Path.Combine(Root, "inherited"));
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try
            {
                Directory.Delete(Root, recursive: true);
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
        };
    }

    /// <summary>A new, empty cache directory (created by the decant that uses it).</summary>
    public static string Fresh() => Path.Combine(Root, Interlocked.Increment(ref _counter).ToString(System.Globalization.CultureInfo.InvariantCulture));
}
