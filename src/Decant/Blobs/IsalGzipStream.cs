using System.IO.Compression;
using System.Runtime.InteropServices;
using Decant.Interop;
using Decant.Model;

namespace Decant.Blobs;

/// <summary>
/// A gzip blob inflated by ISA-L (<see cref="IsalInflate"/>): every member in turn, each one's
/// CRC-32 and length checked against its trailer by the library. A blob cut short, a corrupt
/// member, or bytes after the last member that are not another member are each an invalid layer,
/// named as .NET's own gzip path names them.
/// </summary>
internal sealed class IsalGzipStream : ReadOnlyStream
{
    private static readonly Lazy<IsalInflate.Entry?> Checked = new(() => IsalInflate.TryLoad() is { } entry && DecodesKnownMembers(entry) ? entry : null);

    private readonly IsalInflate.Entry _isal;
    private readonly Stream _source;
    private readonly nint _state; // the library's struct inflate_state, in native memory
    private readonly byte[] _input; // pinned: the library holds a pointer into it between calls
    private bool _sourceEnded;
    private bool _ended;
    private bool _disposed;
    private bool _memberStarted;

    /// <summary>ISA-L's decoder, when the machine has the library and it decodes known members exactly; otherwise null, and .NET's decoder is used.</summary>
    internal static IsalInflate.Entry? Decoder => Checked.Value;

    internal IsalGzipStream(IsalInflate.Entry isal, Stream source)
    {
        _isal = isal;
        _source = source;
        _input = GC.AllocateUninitializedArray<byte>(Decompression.BufferSize, pinned: true);
        _state = AllocateState();
        StartMember();
        SetInput(0, 0);
    }

    private unsafe byte* State => (byte*)_state;

    private unsafe ref uint AvailIn => ref *(uint*)(State + IsalInflate.AvailInOffset);

    private unsafe bool MemberFinished => *(int*)(State + IsalInflate.BlockStateOffset) == IsalInflate.BlockFinish;

    private unsafe int InputStart => (int)(*(byte**)(State + IsalInflate.NextInOffset) - (byte*)Marshal.UnsafeAddrOfPinnedArrayElement(_input, 0));

    private static unsafe nint AllocateState()
    {
        void* state = NativeMemory.AlignedAlloc(IsalInflate.StateAllocation, 64);
        NativeMemory.Clear(state, IsalInflate.StateAllocation);
        return (nint)state;
    }

    /// <summary>Readies the state for a gzip member: initialised (the first) or reset (each next one), with the gzip wrapper to parse and check.</summary>
    private unsafe void StartMember()
    {
        if (_memberStarted)
        {
            _isal.Reset(State);
        }
        else
        {
            _isal.Init(State);
            _memberStarted = true;
        }
        *(uint*)(State + IsalInflate.CrcFlagOffset) = IsalInflate.GzipWrapper;
    }

    private unsafe void SetInput(int start, int length)
    {
        *(byte**)(State + IsalInflate.NextInOffset) = (byte*)Marshal.UnsafeAddrOfPinnedArrayElement(_input, start);
        AvailIn = (uint)length;
    }

    private unsafe void FreeState()
    {
        _disposed = true;
        NativeMemory.AlignedFree(State);
    }

    private const int NeedsInput = -1, TrailingDataFollows = -2;

    /// <inheritdoc/>
    public override int Read(Span<byte> buffer)
    {
        while (true)
        {
            int step = Step(buffer);
            if (step >= 0)
            {
                return step;
            }
            if (step == TrailingDataFollows)
            {
                var (bytes, allZero) = CountUnread();
                int read;
                while (!_sourceEnded && (read = _source.Read(_input)) > 0)
                {
                    (bytes, allZero) = (bytes + read, allZero && !_input.AsSpan(0, read).ContainsAnyExcept((byte)0));
                }
                throw DecompressingStream.TrailingData((bytes, allZero, Exact: true));
            }
            int kept = KeepUnread();
            Refilled(kept, _sourceEnded ? 0 : _source.Read(_input.AsSpan(kept)));
        }
    }

    /// <inheritdoc/>
    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (true)
        {
            int step = Step(buffer.Span);
            if (step >= 0)
            {
                return step;
            }
            if (step == TrailingDataFollows)
            {
                var (bytes, allZero) = CountUnread();
                int read;
                while (!_sourceEnded && (read = await _source.ReadAsync(_input, cancellationToken).ConfigureAwait(false)) > 0)
                {
                    (bytes, allZero) = (bytes + read, allZero && !_input.AsSpan(0, read).ContainsAnyExcept((byte)0));
                }
                throw DecompressingStream.TrailingData((bytes, allZero, Exact: true));
            }
            int kept = KeepUnread();
            Refilled(kept, _sourceEnded ? 0 : await _source.ReadAsync(_input.AsMemory(kept), cancellationToken).ConfigureAwait(false));
        }
    }

    /// <summary>
    /// Inflates into <paramref name="buffer"/> from the input at hand: the bytes produced (0 at the
    /// end of the blob), <see cref="NeedsInput"/>, or <see cref="TrailingDataFollows"/> when what
    /// follows the last member is not a member.
    /// </summary>
    private unsafe int Step(Span<byte> buffer)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (buffer.IsEmpty || _ended)
        {
            return 0;
        }
        while (true)
        {
            if (MemberFinished)
            {
                // The library gave back the bytes after the member's trailer: another member, the end, or trailing data.
                if (AvailIn < 3 && !_sourceEnded)
                {
                    return NeedsInput;
                }
                if (AvailIn == 0)
                {
                    _ended = true;
                    return 0;
                }
                if (_input.AsSpan(InputStart, (int)AvailIn) is not [0x1F, 0x8B, 0x08, ..])
                {
                    _ended = true;
                    return TrailingDataFollows;
                }
                int start = InputStart, length = (int)AvailIn;
                StartMember();
                SetInput(start, length);
            }
            uint before = AvailIn;
            int produced;
            int result;
            fixed (byte* output = buffer)
            {
                *(byte**)(State + IsalInflate.NextOutOffset) = output;
                *(uint*)(State + IsalInflate.AvailOutOffset) = (uint)buffer.Length;
                result = _isal.Inflate(State);
                produced = buffer.Length - (int)*(uint*)(State + IsalInflate.AvailOutOffset);
            }
            if (result < 0)
            {
                throw DecompressingStream.Corrupt(LayerCompression.Gzip, Describe(result), null);
            }
            if (produced > 0)
            {
                return produced;
            }
            if (MemberFinished)
            {
                continue;
            }
            // Nothing came out and the member goes on: it needs more input, which a blob at its end does not have.
            if (_sourceEnded)
            {
                throw DecompressingStream.Corrupt(LayerCompression.Gzip, "the blob ends inside a gzip member", null);
            }
            if (AvailIn == 0 || AvailIn == before)
            {
                return NeedsInput;
            }
        }
    }

    /// <summary>The bytes after the last member still in the input buffer: how many, and whether all are zeros.</summary>
    private (long Bytes, bool AllZero) CountUnread()
    {
        var unread = _input.AsSpan(InputStart, (int)AvailIn);
        return (unread.Length, !unread.ContainsAnyExcept((byte)0));
    }

    /// <summary>Moves the input not yet consumed to the front of the buffer; returns its length.</summary>
    private int KeepUnread()
    {
        int kept = (int)AvailIn;
        if (kept == _input.Length)
        {
            throw DecompressingStream.Corrupt(LayerCompression.Gzip, "the decoder takes no more input", null);
        }
        _input.AsSpan(InputStart, kept).CopyTo(_input);
        return kept;
    }

    private void Refilled(int kept, int read)
    {
        if (read == 0)
        {
            _sourceEnded = true;
        }
        SetInput(0, kept + read);
    }

    private static string Describe(int result) => result switch
    {
        -1 => "an invalid deflate block",
        -2 => "an invalid deflate symbol",
        -3 => "a match that reaches back before the start of the data",
        -4 => "an invalid gzip header",
        -5 => "a gzip member whose compression method is not deflate",
        -6 => "a gzip member whose CRC-32 or length does not match its trailer",
        _ => $"ISA-L error {result}",
    };

    /// <summary>Two gzip members written by .NET, one stored and one compressed, must decode to exactly what was written.</summary>
    private static bool DecodesKnownMembers(IsalInflate.Entry entry)
    {
        byte[] content = new byte[70_000];
        for (int i = 0; i < content.Length; i++)
        {
            content[i] = (byte)((i * 7 % 251) ^ (i >> 9));
        }
        using var blob = new MemoryStream();
        foreach (var level in new[] { CompressionLevel.NoCompression, CompressionLevel.Optimal })
        {
            using var gzip = new GZipStream(blob, level, leaveOpen: true);
            gzip.Write(content);
        }
        byte[] output = new byte[(2 * content.Length) + 1];
        int produced = 0;
        try
        {
            using var decoder = new IsalGzipStream(entry, new MemoryStream(blob.ToArray()));
            int read;
            while ((read = decoder.Read(output.AsSpan(produced))) > 0)
            {
                produced += read;
            }
        }
        catch (DecantException)
        {
            return false;
        }
        return produced == 2 * content.Length
            && output.AsSpan(0, content.Length).SequenceEqual(content)
            && output.AsSpan(content.Length, content.Length).SequenceEqual(content);
    }

    ~IsalGzipStream() => Dispose(false);

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        if (!_disposed)
        {
            FreeState();
            if (disposing)
            {
                _source.Dispose();
            }
        }
        base.Dispose(disposing);
    }

    /// <inheritdoc/>
    public override async ValueTask DisposeAsync()
    {
        if (!_disposed)
        {
            FreeState();
            await _source.DisposeAsync().ConfigureAwait(false);
        }
        await base.DisposeAsync().ConfigureAwait(false);
        GC.SuppressFinalize(this);
    }
}
