using Decant.Blobs;
using Decant.Tree;

namespace Decant.Layers;

/// <summary>The read-only, forward-only content of one tar entry, served by its <see cref="LayerTarReader"/>.</summary>
internal sealed class TarEntryStream(LayerTarReader reader, int version, long length) : ReadOnlyStream, IHoleSkippingStream
{
    private long _position;

    /// <summary>The entry's logical size, known up front even though the stream cannot seek.</summary>
    public override long Length => length;

    public override long Position { get => _position; set => throw new NotSupportedException(); }

    /// <summary>
    /// Skips a sparse hole at the current position (see <see cref="LayerTarReader.SkipHole"/>), so a store
    /// can leave it unwritten at O(1) cost instead of reading its zeros. Returns the bytes skipped.
    /// </summary>
    public long SkipHole(int alignment)
    {
        long skipped = reader.SkipHole(version, alignment);
        _position += skipped;
        return skipped;
    }

    public override int Read(Span<byte> buffer)
    {
        int read = reader.ReadData(buffer, version);
        _position += read;
        return read;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        int read = await reader.ReadDataAsync(buffer, version, cancellationToken).ConfigureAwait(false);
        _position += read;
        return read;
    }

}
