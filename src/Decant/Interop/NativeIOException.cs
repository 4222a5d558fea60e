using System.Runtime.InteropServices;
using Decant.Model;

namespace Decant.Interop;

/// <summary>A system call failed: names the call, the path it was about and the kernel's reason.</summary>
internal sealed class NativeIOException : DecantException
{
    public NativeIOException(DecantErrorKind kind, string operation, string path, int errno)
        : base(kind, $"{operation} \"{path}\" failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})")
    {
        Errno = errno;
        Operation = operation;
    }

    /// <summary>The errno value the call returned.</summary>
    public int Errno { get; }

    /// <summary>The libc function that failed.</summary>
    public string Operation { get; }
}
