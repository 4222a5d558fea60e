using System.Net;

namespace Decant.Sources.Registry;

/// <summary>
/// A failure worth retrying: a 408, 429 or 5xx answer, a request that got no answer in time, or a
/// body that stopped arriving. Connection errors (<see cref="HttpRequestException"/>,
/// <see cref="IOException"/>) are retried too without being wrapped in this.
/// </summary>
internal sealed class TransientFailure : Exception
{
    public TransientFailure(string message, HttpStatusCode? status = null, TimeSpan? retryAfter = null)
        : base(message)
    {
        Status = status;
        RetryAfter = retryAfter;
    }

    public TransientFailure()
    {
    }

    public TransientFailure(string message)
        : base(message)
    {
    }

    public TransientFailure(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>The HTTP status that caused it, if any.</summary>
    public HttpStatusCode? Status { get; }

    /// <summary>The server's <c>Retry-After</c>, if it sent one.</summary>
    public TimeSpan? RetryAfter { get; }

    /// <summary>Whether a status is retried: 408, 429 and every 5xx.</summary>
    public static bool IsTransient(HttpStatusCode status) =>
        status is HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests || (int)status >= 500;

    /// <summary>Throws (after disposing the response) when its status is one to retry.</summary>
    public static void ThrowIfTransient(HttpResponseMessage response, string what)
    {
        if (!IsTransient(response.StatusCode))
        {
            return;
        }
        var status = response.StatusCode;
        var retryAfter = RetryAfterOf(response);
        string reason = response.ReasonPhrase ?? "";
        response.Dispose();
        throw new TransientFailure($"{what}: {(int)status} {reason}".TrimEnd(), status, retryAfter);
    }

    private static TimeSpan? RetryAfterOf(HttpResponseMessage response)
    {
        var header = response.Headers.RetryAfter;
        if (header?.Delta is { } delta)
        {
            return delta;
        }
        if (header?.Date is { } date)
        {
            var wait = date - DateTimeOffset.UtcNow;
            return wait > TimeSpan.Zero ? wait : TimeSpan.Zero;
        }
        return null;
    }
}
