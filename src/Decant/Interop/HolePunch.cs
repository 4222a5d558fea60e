using Microsoft.Win32.SafeHandles;

namespace Decant.Interop;

/// <summary>Clears ranges of a file, as holes where the filesystem allows it, else by writing zeros.</summary>
internal static class HolePunch
{
    private const int PunchHole = 0x02, KeepSize = 0x01;

    public static async ValueTask ClearAsync(SafeFileHandle file, long offset, long length, CancellationToken cancellationToken)
    {
        if (length <= 0)
        {
            return;
        }
        if (OperatingSystem.IsLinux() && LibC.Fallocate(file, PunchHole | KeepSize, offset, length) == 0)
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

    /// <summary>Gives a range back to the filesystem if it can; leaves it as it is otherwise.</summary>
    public static void TryRelease(SafeFileHandle file, long offset, long length)
    {
        if (length > 0 && OperatingSystem.IsLinux())
        {
            _ = LibC.Fallocate(file, PunchHole | KeepSize, offset, length);
        }
    }
}
