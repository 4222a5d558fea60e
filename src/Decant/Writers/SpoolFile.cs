using Decant.Model;
using Microsoft.Win32.SafeHandles;

namespace Decant.Writers;

/// <summary>The temporary files image writers keep beside their output: created new, deleted when closed.</summary>
internal static class SpoolFile
{
    /// <summary>
    /// A new spool file in <paramref name="directory"/> named after <paramref name="kind"/>, deleted
    /// when closed; <paramref name="holds"/> says what it holds, for the error when it cannot be made.
    /// </summary>
    /// <exception cref="DecantException">The file cannot be created.</exception>
    public static SafeFileHandle Create(string directory, string kind, string holds)
    {
        string path = Path.Combine(directory, $".decant-{kind}-{Guid.NewGuid():N}");
        try
        {
            return File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, FileOptions.DeleteOnClose | FileOptions.Asynchronous);
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            throw new DecantException(DecantErrorKind.OutputError, $"cannot create the spool for {holds} in {directory}: {error.Message}", error);
        }
    }
}
