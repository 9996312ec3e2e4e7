using System.Globalization;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.Options;
using QwenSharp.Server.OpenAi;

namespace QwenSharp.Server.Security;

/// <summary>
/// Requests per minute for each API key (or each client address without keys), as an ASP.NET Core
/// rate-limiting policy: a fixed one-minute window per caller. Unauthenticated callers all share a
/// limiter-free partition (they are answered 401 right after), so bad keys cannot create partitions.
/// </summary>
public sealed class RequestRatePolicy(IOptions<QwenServerOptions> options, ClientAuthenticator auth) : IRateLimiterPolicy<string>
{
    public const string Name = "qwensharp-requests";

    public Func<OnRejectedContext, CancellationToken, ValueTask>? OnRejected { get; } = async (ctx, ct) =>
    {
        int? retry = ctx.Lease.TryGetMetadata(MetadataName.RetryAfter, out var after) ? Math.Max(1, (int)Math.Ceiling(after.TotalSeconds)) : null;
        await OpenAiErrors.Write(ctx.HttpContext, 429, "too many requests for this API key; try again later", "requests", null, "rate_limit_exceeded", retry);
    };

    public RateLimitPartition<string> GetPartition(HttpContext httpContext)
    {
        var id = auth.Identify(httpContext);
        if (!id.Allowed || options.Value.RequestsPerMinute is not int rpm) return RateLimitPartition.GetNoLimiter("none");
        return RateLimitPartition.GetFixedWindowLimiter(id.Id, _ => new FixedWindowRateLimiterOptions
        {
            PermitLimit = rpm,
            Window = TimeSpan.FromMinutes(1),
            QueueLimit = 0,
            AutoReplenishment = true,
        });
    }
}

/// <summary>
/// Tokens per minute for each API key: a fixed one-minute window of tokens per caller (System.Threading.RateLimiting).
/// A request's prompt tokens are taken when it is admitted (429 when the window has fewer left); its
/// completion tokens are taken when it ends, as far as the window has them.
/// </summary>
public sealed class TokenRateLimiter : IDisposable
{
    readonly PartitionedRateLimiter<string>? _limiter;
    readonly int _limit;

    public TokenRateLimiter(IOptions<QwenServerOptions> options)
    {
        if (options.Value.TokensPerMinute is not int tpm) return;
        if (tpm < 1) throw new ArgumentOutOfRangeException(nameof(options), "TokensPerMinute must be at least 1");
        _limit = tpm;
        _limiter = PartitionedRateLimiter.Create<string, string>(id => RateLimitPartition.GetFixedWindowLimiter(id, _ => new FixedWindowRateLimiterOptions
        {
            PermitLimit = tpm,
            Window = TimeSpan.FromMinutes(1),
            QueueLimit = 0,
            AutoReplenishment = true,
        }));
    }

    /// <summary>Takes <paramref name="tokens"/> from the caller's window or throws a 429.</summary>
    public void Admit(ClientIdentity id, int tokens)
    {
        if (_limiter is null || tokens <= 0) return;
        if (tokens > _limit)
            throw new OpenAiException(429, $"this request needs {tokens} tokens; the limit is {_limit} tokens per minute", "tokens", code: "rate_limit_exceeded");
        using var lease = _limiter.AttemptAcquire(id.Id, tokens);
        if (lease.IsAcquired) return;
        int? retry = lease.TryGetMetadata(MetadataName.RetryAfter, out var after) ? Math.Max(1, (int)Math.Ceiling(after.TotalSeconds)) : 60;
        throw new OpenAiException(429, $"this API key has used its {_limit.ToString(CultureInfo.InvariantCulture)} tokens per minute; try again later", "tokens", code: "rate_limit_exceeded")
        {
            RetryAfterSeconds = retry,
        };
    }

    /// <summary>Charges tokens produced after admission (what the window still has).</summary>
    public void Charge(ClientIdentity id, int tokens)
    {
        if (_limiter is null || tokens <= 0) return;
        long available = _limiter.GetStatistics(id.Id)?.CurrentAvailablePermits ?? 0;
        int take = (int)Math.Min(tokens, available);
        if (take > 0) _limiter.AttemptAcquire(id.Id, take).Dispose();
    }

    public void Dispose() => _limiter?.Dispose();
}
