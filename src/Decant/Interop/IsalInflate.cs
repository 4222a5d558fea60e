using System.Runtime.InteropServices;

namespace Decant.Interop;

/// <summary>
/// The gzip decoder of Intel's ISA-L (<c>libisal.so.2</c>, Debian's <c>libisal2</c>), found at run
/// time when the machine has it: it inflates about 1.25 times as fast as the zlib-ng inside .NET
/// (bench/DecodeFloor, the apt bench image: 3.4 against 4.3 s), and inflating is most of an export's
/// CPU time. Without the library, or with <c>DECANT_ISAL=0</c> in the environment, gzip layers go
/// through .NET's own decoder, with the same results (see <see cref="Blobs.IsalGzipStream"/>).
/// </summary>
/// <remarks>
/// The library's decoder state (<c>struct inflate_state</c>) is used through the fields its header
/// declares, at the offsets that header gives on 64-bit Linux; they have not moved from ISA-L 2.30
/// (Debian 12) to 2.32.
/// </remarks>
internal static unsafe class IsalInflate
{
    private const string LibraryName = "libisal.so.2";

    /// <summary><c>sizeof(struct inflate_state)</c> in ISA-L 2.30 is 87 368 bytes; twice that is allocated, so a later, larger state still fits.</summary>
    internal const int StateAllocation = 2 * 87_368;

    // Offsets in struct inflate_state (igzip_lib.h), x86-64 and arm64 alike.
    internal const int NextOutOffset = 0, AvailOutOffset = 8, NextInOffset = 16, AvailInOffset = 32;
    internal const int BlockStateOffset = 21_160, CrcFlagOffset = 21_172;

    /// <summary><c>ISAL_BLOCK_FINISH</c>: a member has been decoded, its trailer checked, and the bytes after it given back in next_in.</summary>
    internal const int BlockFinish = 5;

    /// <summary><c>ISAL_GZIP</c>: parse the gzip header, check the CRC and length in the trailer.</summary>
    internal const int GzipWrapper = 1;

    internal sealed class Entry(IntPtr init, IntPtr reset, IntPtr inflate)
    {
        public void Init(byte* state) => ((delegate* unmanaged<byte*, void>)init)(state);

        public void Reset(byte* state) => ((delegate* unmanaged<byte*, void>)reset)(state);

        public int Inflate(byte* state) => ((delegate* unmanaged<byte*, int>)inflate)(state);
    }

    /// <summary>The library's decoder, or null when the library is missing or turned off (<c>DECANT_ISAL=0</c>).</summary>
    internal static Entry? TryLoad()
    {
        if (Environment.GetEnvironmentVariable("DECANT_ISAL") == "0" || !OperatingSystem.IsLinux() || !Environment.Is64BitProcess)
        {
            return null;
        }
        if (!NativeLibrary.TryLoad(LibraryName, out var library))
        {
            return null;
        }
        return NativeLibrary.TryGetExport(library, "isal_inflate_init", out var init)
            && NativeLibrary.TryGetExport(library, "isal_inflate_reset", out var reset)
            && NativeLibrary.TryGetExport(library, "isal_inflate", out var inflate)
            ? new Entry(init, reset, inflate)
            : null;
    }
}
