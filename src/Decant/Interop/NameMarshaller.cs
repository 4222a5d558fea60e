using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.InteropServices.Marshalling;
using Decant.Model;

namespace Decant.Interop;

/// <summary>
/// Marshals path and xattr-name arguments of libc calls as the exact bytes they stand for
/// (<see cref="NameBytes"/>), NUL-terminated: a name that is not valid UTF-8 reaches the kernel byte
/// for byte, where the runtime's UTF-8 marshalling would replace those bytes with U+FFFD.
/// </summary>
[CustomMarshaller(typeof(string), MarshalMode.ManagedToUnmanagedIn, typeof(ManagedToUnmanagedIn))]
internal static unsafe class NameMarshaller
{
    public ref struct ManagedToUnmanagedIn
    {
        private byte* _pointer;
        private bool _allocated;

        /// <summary>Names up to this many bytes go on the caller's stack.</summary>
        public static int BufferSize => 256;

        public void FromManaged(string? managed, Span<byte> buffer)
        {
            if (managed is null)
            {
                _pointer = null;
                return;
            }
            int length = NameBytes.GetByteCount(managed);
            if (length + 1 <= buffer.Length)
            {
                _pointer = (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetReference(buffer));
            }
            else
            {
                _pointer = (byte*)NativeMemory.Alloc((nuint)length + 1);
                _allocated = true;
            }
            var destination = new Span<byte>(_pointer, length + 1);
            NameBytes.Encode(managed, destination);
            destination[length] = 0;
        }

        public readonly byte* ToUnmanaged() => _pointer;

        public readonly void Free()
        {
            if (_allocated)
            {
                NativeMemory.Free(_pointer);
            }
        }
    }
}
