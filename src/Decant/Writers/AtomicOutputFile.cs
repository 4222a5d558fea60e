using Decant.Model;
using Microsoft.Win32.SafeHandles;

namespace Decant.Writers;

/// <summary>
/// A file output (a tar, an ext4 image) written under a temporary name beside it and moved into
/// place at commit, so a failed export never leaves a half-written file under the output's name.
/// The output's missing parent directories are created first; disposing without a commit removes
/// the temporary file and those parents again.
/// </summary>
internal sealed class AtomicOutputFile : IDisposable
{
    private readonly string _output;
    private readonly bool _force;
    private readonly OutputParents _parents;
    private SafeFileHandle? _file;
    private bool _committed;
    private int _disposed;

    private AtomicOutputFile(string output, bool force, string parentDirectory, OutputParents parents)
    {
        _output = output;
        _force = force;
        _parents = parents;
        ParentDirectory = parentDirectory;
        TemporaryPath = Path.Combine(parentDirectory, $".{Path.GetFileName(output)}.decant-{Guid.NewGuid():N}");
    }

    /// <summary>The directory the output goes in (created if it was missing).</summary>
    public string ParentDirectory { get; }

    /// <summary>Where the file is written until commit.</summary>
    public string TemporaryPath { get; }

    /// <summary>Checks, then prepares, an output: <see cref="Check"/> and <see cref="Prepare"/> together.</summary>
    /// <exception cref="DecantException">The output is a directory, exists without <paramref name="force"/>, or a missing parent directory cannot be created.</exception>
    public static AtomicOutputFile Create(string output, bool force, string format) =>
        Prepare(Check(output, force, format), force);

    /// <summary>
    /// Checks that <paramref name="output"/> can be written: it is not a directory, and exists only
    /// with <paramref name="force"/>. Returns its full path.
    /// </summary>
    /// <param name="output">The output as the user gave it (messages name it so).</param>
    /// <param name="force">Whether an existing file is replaced.</param>
    /// <param name="format">What the output is, for the message when it is a directory ("a tar output").</param>
    /// <exception cref="DecantException">The output is a directory, or exists without <paramref name="force"/>.</exception>
    public static string Check(string output, bool force, string format)
    {
        string full = Path.GetFullPath(output);
        if (System.IO.Directory.Exists(full))
        {
            throw new DecantException(DecantErrorKind.OutputError, $"output \"{output}\" is a directory; {format} needs a file name");
        }
        if (File.Exists(full) && !force)
        {
            throw new DecantException(DecantErrorKind.OutputError, $"output \"{output}\" already exists") { Setting = nameof(WriterOptions.Force) };
        }
        return full;
    }

    /// <summary>Creates the missing parent directories of an output <see cref="Check"/> accepted and names its temporary file.</summary>
    /// <exception cref="DecantException">A missing parent directory cannot be created.</exception>
    public static AtomicOutputFile Prepare(string fullPath, bool force)
    {
        string directory = Path.GetDirectoryName(fullPath) ?? ".";
        return new AtomicOutputFile(fullPath, force, directory, OutputParents.Create(directory));
    }

    /// <summary>
    /// Prepares an image output <see cref="Check"/> accepted and creates its temporary file for
    /// reading and writing; on failure nothing is left behind.
    /// </summary>
    /// <exception cref="DecantException">The temporary file cannot be created next to <paramref name="output"/>.</exception>
    public static AtomicOutputFile PrepareImage(string fullPath, bool force, string output, out SafeFileHandle file)
    {
        var prepared = Prepare(fullPath, force);
        try
        {
            file = prepared.CreateFile(FileAccess.ReadWrite);
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            prepared.Dispose();
            throw new DecantException(DecantErrorKind.OutputError, $"cannot create the image file next to \"{output}\": {error.Message}", error);
        }
        return prepared;
    }

    /// <summary>Creates the temporary file (it must not exist) and opens it for asynchronous I/O; the handle is closed at commit or dispose.</summary>
    public SafeFileHandle CreateFile(FileAccess access)
    {
        _file = File.OpenHandle(TemporaryPath, FileMode.CreateNew, access, FileShare.None, FileOptions.Asynchronous);
        return _file;
    }

    /// <summary>Closes the temporary file and moves it to the output's name (replacing a file there only with force).</summary>
    public void Commit()
    {
        _file?.Dispose();
        File.Move(TemporaryPath, _output, _force);
        _committed = true;
    }

    /// <summary>Closes the temporary file and, unless committed, deletes it and removes the parent directories that were created.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        _file?.Dispose();
        if (_committed)
        {
            return;
        }
        if (_file is not null && File.Exists(TemporaryPath))
        {
            File.Delete(TemporaryPath);
        }
        _parents.Remove();
    }
}
