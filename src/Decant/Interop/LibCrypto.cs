using System.Runtime.InteropServices;

namespace Decant.Interop;

/// <summary>
/// OpenSSL's one-block digest functions (<c>SHA256_Init</c>/<c>_Update</c>/<c>_Final</c> and the
/// SHA-512 ones) from the libcrypto .NET itself uses on Linux. For many small inputs, such as
/// dm-verity's 4 KiB blocks, they are a quarter faster than <see cref="System.Security.Cryptography.IncrementalHash"/>,
/// whose every call goes through the EVP layer (on this machine, salted 4 KiB blocks: 1.73 against
/// 1.40 GB/s, with the same SHA extensions underneath). Null where the library or its functions are missing.
/// </summary>
internal static unsafe class LibCrypto
{
    /// <summary>Room for a SHA256_CTX (112 bytes) or SHA512_CTX (216 bytes) on the stack.</summary>
    public const int ContextBytes = 256;

    /// <summary>One digest's three functions.</summary>
    internal sealed class Digest(IntPtr init, IntPtr update, IntPtr final)
    {
        /// <summary>The digest of <paramref name="first"/> followed by <paramref name="second"/>, into <paramref name="digest"/> (which must hold the digest's size).</summary>
        public void Compute(ReadOnlySpan<byte> first, ReadOnlySpan<byte> second, Span<byte> digest)
        {
            byte* context = stackalloc byte[ContextBytes];
            fixed (byte* a = first, b = second, output = digest)
            {
                ((delegate* unmanaged<byte*, int>)init)(context);
                ((delegate* unmanaged<byte*, byte*, nuint, int>)update)(context, a, (nuint)first.Length);
                ((delegate* unmanaged<byte*, byte*, nuint, int>)update)(context, b, (nuint)second.Length);
                ((delegate* unmanaged<byte*, byte*, int>)final)(output, context);
            }
        }
    }

    private static readonly Lazy<IntPtr> Library = new(() =>
        OperatingSystem.IsLinux() && (NativeLibrary.TryLoad("libcrypto.so.3", out var library) || NativeLibrary.TryLoad("libcrypto.so.1.1", out library)) ? library : IntPtr.Zero);

    /// <summary>The functions of <paramref name="name"/> (<c>SHA256</c> or <c>SHA512</c>), or null.</summary>
    public static Digest? Find(string name)
    {
        var library = Library.Value;
        return library != IntPtr.Zero
            && NativeLibrary.TryGetExport(library, name + "_Init", out var init)
            && NativeLibrary.TryGetExport(library, name + "_Update", out var update)
            && NativeLibrary.TryGetExport(library, name + "_Final", out var final)
            ? new Digest(init, update, final)
            : null;
    }
}
