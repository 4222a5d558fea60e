using Decant.Model;
namespace Decant.Layers;

/// <summary>Turning a header block plus the pending PAX and GNU records into a <see cref="TarHeader"/>.</summary>
internal sealed partial class LayerTarReader
{
    private readonly TarText.Cache _userNames = new();
    private readonly TarText.Cache _groupNames = new();
    private byte[]? _sparseHeaderCopy;

    /// <summary>The header fields of one entry before sparse expansion settles its size.</summary>
    private struct EntryDraft
    {
        public string Name;
        public TarEntryKind Kind;
        public string LinkName;
        public uint Mode;
        public long Uid;
        public long Gid;
        public string? UserName;
        public string? GroupName;
        public long StoredSize;
        public Timestamp ModificationTime;
        public Timestamp? AccessTime;
        public uint DeviceMajor;
        public uint DeviceMinor;
        public long OldGnuRealSize;

        public readonly TarHeader ToHeader(long size, IReadOnlyList<KeyValuePair<string, byte[]>> xattrs) => new()
        {
            Name = Name,
            Kind = Kind,
            LinkName = LinkName,
            Mode = Mode,
            Uid = Uid,
            Gid = Gid,
            UserName = UserName,
            GroupName = GroupName,
            Size = size,
            ModificationTime = ModificationTime,
            AccessTime = AccessTime,
            DeviceMajor = DeviceMajor,
            DeviceMinor = DeviceMinor,
            Xattrs = xattrs,
        };
    }

    private async ValueTask<TarHeader> ReadEntryAsync(byte type, long offset, CancellationToken cancellationToken)
    {
        var draft = Draft(_input.Peek(TarHeaderFields.BlockSize), type, offset);
        bool oldGnuSparse = type == 'S';
        if (oldGnuSparse)
        {
            _sparseHeaderCopy ??= new byte[TarHeaderFields.BlockSize];
            _input.Peek(TarHeaderFields.BlockSize).CopyTo(_sparseHeaderCopy);
        }
        _input.Consume(TarHeaderFields.BlockSize);
        // (Not `list ? list : []`: the conditional's type is List, and each entry without xattrs got an empty List of its own.)
        IReadOnlyList<KeyValuePair<string, byte[]>> xattrs = _pending.Xattrs is { } list ? list : Array.Empty<KeyValuePair<string, byte[]>>();

        if (oldGnuSparse)
        {
            var map = await TarSparseMap.ReadOldGnuMapAsync(_input, _sparseHeaderCopy!, _limits, draft.Name, cancellationToken).ConfigureAwait(false);
            return BeginSparseEntry(draft, map, draft.OldGnuRealSize, mapBytes: 0, xattrs);
        }
        if (_pending.IsSparse && draft.Kind == TarEntryKind.RegularFile)
        {
            return await ReadPaxSparseEntryAsync(draft, offset, xattrs, cancellationToken).ConfigureAwait(false);
        }
        BeginEntry(draft.StoredSize, Padding(draft.StoredSize), sparse: null, draft.StoredSize, draft.Name);
        return draft.ToHeader(draft.StoredSize, xattrs);
    }

    private async ValueTask<TarHeader> ReadPaxSparseEntryAsync(EntryDraft draft, long offset, IReadOnlyList<KeyValuePair<string, byte[]>> xattrs, CancellationToken cancellationToken)
    {
        if (_pending.SparseName is { } sparseName)
        {
            draft.Name = sparseName;
        }
        if (_pending.SparseRealSize is not { } realSize)
        {
            throw TarErrors.Invalid($"the sparse entry at byte offset {offset} has no GNU.sparse.realsize or GNU.sparse.size", draft.Name);
        }
        switch (_pending.SparseMajor, _pending.SparseMinor)
        {
            case (1, 0):
                {
                    var (map, mapBytes) = await TarSparseMap.ReadDataMapAsync(_input, draft.StoredSize, _limits, draft.Name, cancellationToken).ConfigureAwait(false);
                    return BeginSparseEntry(draft, map, realSize, mapBytes, xattrs);
                }
            case (null or 0, null or 0 or 1):
                {
                    var map = _pending.SparseMap
                        ?? throw TarErrors.Invalid($"the sparse entry at byte offset {offset} has no GNU.sparse.map", draft.Name);
                    return BeginSparseEntry(draft, map, realSize, mapBytes: 0, xattrs);
                }
            default:
                throw TarErrors.Invalid($"the entry at byte offset {offset} uses GNU sparse format {_pending.SparseMajor}.{_pending.SparseMinor}, which is not supported", draft.Name);
        }
    }

    private TarHeader BeginSparseEntry(EntryDraft draft, List<TarSparseSegment> map, long realSize, long mapBytes, IReadOnlyList<KeyValuePair<string, byte[]>> xattrs)
    {
        TarSparseMap.Validate(map, realSize, draft.StoredSize - mapBytes, draft.Name);
        // A 1.0 map was already consumed: only its padding is left over from the stored size.
        BeginEntry(draft.StoredSize - mapBytes, Padding(draft.StoredSize), map, realSize, draft.Name);
        return draft.ToHeader(realSize, xattrs);
    }

    /// <summary>Reads the fields of an entry's header block, with the pending records applied.</summary>
    private EntryDraft Draft(ReadOnlySpan<byte> block, byte type, long offset)
    {
        var format = TarHeaderFields.DetectFormat(block);
        var draft = new EntryDraft
        {
            Name = _pending.Path ?? _pending.LongName ?? ComposeName(block, format),
            LinkName = _pending.LinkPath ?? _pending.LongLinkName ?? TarText.DecodeField(block[TarHeaderFields.LinkName]),
        };
        draft.Kind = KindOf(type, draft.Name, offset);
        draft.Mode = (uint)(InRange(Numeric(block, TarHeaderFields.Mode, "mode", draft.Name, offset), MaxMode, "mode", draft.Name, offset) & 0xFFF);
        draft.Uid = InRange(_pending.Uid ?? Numeric(block, TarHeaderFields.Uid, "uid", draft.Name, offset), MaxId, "uid", draft.Name, offset);
        draft.Gid = InRange(_pending.Gid ?? Numeric(block, TarHeaderFields.Gid, "gid", draft.Name, offset), MaxId, "gid", draft.Name, offset);
        draft.ModificationTime = _pending.ModificationTime ?? new Timestamp(Numeric(block, TarHeaderFields.ModificationTime, "mtime", draft.Name, offset), 0);
        draft.AccessTime = _pending.AccessTime;
        if (format == TarHeaderFields.Format.Gnu && block[TarHeaderFields.GnuAccessTime][0] != 0 && draft.AccessTime is null)
        {
            draft.AccessTime = new Timestamp(Numeric(block, TarHeaderFields.GnuAccessTime, "atime", draft.Name, offset), 0);
        }
        if (format != TarHeaderFields.Format.V7)
        {
            draft.UserName = _pending.UserName ?? _userNames.Decode(block[TarHeaderFields.UserName]);
            draft.GroupName = _pending.GroupName ?? _groupNames.Decode(block[TarHeaderFields.GroupName]);
            if (draft.Kind is TarEntryKind.CharDevice or TarEntryKind.BlockDevice)
            {
                draft.DeviceMajor = DeviceNumber(block, TarHeaderFields.DeviceMajor, "devmajor", draft.Name, offset);
                draft.DeviceMinor = DeviceNumber(block, TarHeaderFields.DeviceMinor, "devminor", draft.Name, offset);
            }
        }
        else
        {
            draft.UserName = _pending.UserName;
            draft.GroupName = _pending.GroupName;
        }
        if (draft.Kind == TarEntryKind.RegularFile)
        {
            draft.StoredSize = InRange(_pending.Size ?? Numeric(block, TarHeaderFields.Size, "size", draft.Name, offset), long.MaxValue, "size", draft.Name, offset);
        }
        if (type == 'S')
        {
            draft.OldGnuRealSize = InRange(Numeric(block, TarHeaderFields.GnuRealSize, "realsize", draft.Name, offset), long.MaxValue, "realsize", draft.Name, offset);
        }
        return draft;
    }

    private static string ComposeName(ReadOnlySpan<byte> block, TarHeaderFields.Format format)
    {
        var name = TarText.UntilNul(block[TarHeaderFields.Name]);
        var prefix = format switch
        {
            TarHeaderFields.Format.Ustar => TarText.UntilNul(block[TarHeaderFields.UstarPrefix]),
            TarHeaderFields.Format.Star => TarText.UntilNul(block[TarHeaderFields.StarPrefix]),
            _ => [],
        };
        if (prefix.IsEmpty)
        {
            return TarText.Decode(name);
        }
        Span<byte> joined = stackalloc byte[prefix.Length + 1 + name.Length];
        prefix.CopyTo(joined);
        joined[prefix.Length] = (byte)'/';
        name.CopyTo(joined[(prefix.Length + 1)..]);
        return TarText.Decode(joined);
    }

    private static TarEntryKind KindOf(byte type, string name, long offset) => type switch
    {
        (byte)'0' or (byte)'7' or (byte)'S' => TarEntryKind.RegularFile,
        0 => name.EndsWith('/') ? TarEntryKind.Directory : TarEntryKind.RegularFile,
        (byte)'1' => TarEntryKind.Hardlink,
        (byte)'2' => TarEntryKind.Symlink,
        (byte)'3' => TarEntryKind.CharDevice,
        (byte)'4' => TarEntryKind.BlockDevice,
        (byte)'5' => TarEntryKind.Directory,
        (byte)'6' => TarEntryKind.Fifo,
        _ => throw TarErrors.Invalid(
            $"the tar entry at byte offset {offset} has the unsupported type '{(type is >= 0x20 and < 0x7F ? (char)type : '?')}' (0x{type:X2})", name),
    };

    private static long Numeric(ReadOnlySpan<byte> block, Range field, string fieldName, string entry, long offset)
    {
        if (!TarHeaderFields.TryParseNumeric(block[field], out long value))
        {
            throw TarErrors.Invalid($"the tar header at byte offset {offset} has an invalid {fieldName} field", entry);
        }
        return value;
    }

    private static uint DeviceNumber(ReadOnlySpan<byte> block, Range field, string fieldName, string entry, long offset) =>
        (uint)InRange(Numeric(block, field, fieldName, entry, offset), uint.MaxValue, fieldName, entry, offset);

    /// <summary>The largest mode a header may hold: seven octal digits (the type bits some old tars add are ignored).</summary>
    private const long MaxMode = 0x1F_FFFF;

    /// <summary>The largest uid or gid: 32 bits, less (uid_t)-1, which chown reads as "leave unchanged".</summary>
    private const long MaxId = uint.MaxValue - 1L;

    /// <summary>Refuses a numeric field outside 0..<paramref name="maximum"/> (base-256 fields can be negative).</summary>
    private static long InRange(long value, long maximum, string fieldName, string entry, long offset) =>
        value >= 0 && value <= maximum
            ? value
            : throw TarErrors.Invalid($"the tar header at byte offset {offset} has an out-of-range {fieldName} {value} (it must be 0 to {maximum})", entry);
}
