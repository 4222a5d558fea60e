namespace Decant.Model;

/// <summary>A point in time with nanosecond precision, as tar (PAX) and ext4 carry it.</summary>
public readonly record struct Timestamp(long Seconds, uint Nanoseconds)
{
    /// <summary>The Unix epoch, 1970-01-01T00:00:00Z.</summary>
    public static readonly Timestamp Epoch = new(0, 0);

    /// <summary>Seconds since the epoch, with a nine-digit fraction when <see cref="Nanoseconds"/> is not zero (the form of a PAX time record, e.g. <c>1700000000.000000001</c>).</summary>
    public override string ToString() => Nanoseconds == 0 ? Seconds.ToString(System.Globalization.CultureInfo.InvariantCulture) : $"{Seconds}.{Nanoseconds:D9}";
}
