using System.Runtime.InteropServices;

namespace Decant.Cli;

/// <summary>
/// Turns the terminal's echo off on standard input for as long as it is held (what getpass(3) does),
/// so that a password typed even before the prompt appears is never shown.
/// </summary>
internal sealed partial class TerminalEcho : IDisposable
{
    private const int StandardInput = 0;
    private const int SetNow = 0;         // TCSANOW
    private const uint Echo = 0x8;        // ECHO in c_lflag
    private const int LocalFlagsOffset = 12; // c_iflag, c_oflag, c_cflag, then c_lflag (4 bytes each)
    private const int TermiosSize = 64;   // struct termios is 60 bytes on Linux

    private readonly byte[] _saved = new byte[TermiosSize];
    private readonly bool _changed;

    private TerminalEcho()
    {
        if (GetAttributes(StandardInput, _saved) != 0)
        {
            return; // not a terminal: nothing to turn off
        }
        byte[] quiet = (byte[])_saved.Clone();
        uint flags = BitConverter.ToUInt32(quiet, LocalFlagsOffset) & ~Echo;
        BitConverter.TryWriteBytes(quiet.AsSpan(LocalFlagsOffset), flags);
        _changed = SetAttributes(StandardInput, SetNow, quiet) == 0;
    }

    /// <summary>Turns echo off until the result is disposed.</summary>
    public static TerminalEcho Off() => new();

    public void Dispose()
    {
        if (_changed)
        {
            _ = SetAttributes(StandardInput, SetNow, _saved);
        }
    }

    /// <summary>
    /// One line from standard input as the terminal's line discipline hands it over, without its line
    /// break. Read with read(2) itself: the runtime's console stream would set the terminal's modes again.
    /// </summary>
    public static string ReadLine()
    {
        var line = new List<byte>();
        byte[] one = new byte[1];
        while (Read(StandardInput, one, 1) == 1 && one[0] is not ((byte)'\n' or (byte)'\r'))
        {
            line.Add(one[0]);
        }
        return System.Text.Encoding.UTF8.GetString([.. line]);
    }

    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    private static partial nint Read(int fd, [Out] byte[] buffer, nint count);

    [LibraryImport("libc", EntryPoint = "tcgetattr", SetLastError = true)]
    private static partial int GetAttributes(int fd, [Out] byte[] termios);

    [LibraryImport("libc", EntryPoint = "tcsetattr", SetLastError = true)]
    private static partial int SetAttributes(int fd, int action, byte[] termios);
}
