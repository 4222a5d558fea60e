using System.Text;

namespace Decant.Tests.Support;

/// <summary>
/// Turns raw path bytes into the readable, unambiguous keys a <see cref="TreeSnapshot"/> uses:
/// valid UTF-8 stays as it is, while a backslash, control characters and bytes that are not UTF-8
/// are written as <c>\\</c> and <c>\xNN</c>, so two different byte names never share a key.
/// </summary>
internal static class SnapshotPath
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public static string Display(ReadOnlySpan<byte> path)
    {
        var text = new StringBuilder(path.Length);
        int index = 0;
        while (index < path.Length)
        {
            int length = Utf8SequenceLength(path[index..]);
            if (length == 0)
            {
                text.Append(System.Globalization.CultureInfo.InvariantCulture, $"\\x{path[index]:x2}");
                index++;
                continue;
            }
            var sequence = path.Slice(index, length);
            if (length == 1 && (sequence[0] < 0x20 || sequence[0] == 0x7f))
            {
                text.Append(System.Globalization.CultureInfo.InvariantCulture, $"\\x{sequence[0]:x2}");
            }
            else if (length == 1 && sequence[0] == (byte)'\\')
            {
                text.Append("\\\\");
            }
            else
            {
                text.Append(StrictUtf8.GetString(sequence));
            }
            index += length;
        }
        return text.ToString();
    }

    /// <summary>The length of the valid UTF-8 sequence at the start of the span, or 0 when it is not valid.</summary>
    private static int Utf8SequenceLength(ReadOnlySpan<byte> bytes)
    {
        var status = System.Text.Rune.DecodeFromUtf8(bytes, out _, out int consumed);
        return status == System.Buffers.OperationStatus.Done ? consumed : 0;
    }
}
