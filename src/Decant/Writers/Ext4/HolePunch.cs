using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Decant.Writers.Ext4;

/// <summary>Clears ranges of the image file, as holes where the filesystem allows it, else by writing zeros.</summary>
internal static partial class HolePunch
{
    private const int PunchHole = 0x02, KeepSize = 0x01;

    [LibraryImport("libc", EntryPoint = "fallocate", SetLastError = true)]
    private static partial int Fallocate(SafeHandle fd, int mode, long offset, long length);

    public static async ValueTask ClearAsync(SafeFileHandle file, long offset, long length, CancellationToken cancellationToken)
    {
        if (length <= 0)
        {
            return;
        }
        if (OperatingSystem.IsLinux() && Fallocate(file, PunchHole | KeepSize, offset, length) == 0)
        {
            return;
        }
        byte[] zeros = new byte[(int)Math.Min(length, 1 << 20)];
        for (long done = 0; done < length; done += zeros.Length)
        {
            int count = (int)Math.Min(zeros.Length, length - done);
            await RandomAccess.WriteAsync(file, zeros.AsMemory(0, count), offset + done, cancellationToken).ConfigureAwait(false);
        }
    }
}
