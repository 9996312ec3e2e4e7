using System.Diagnostics;
using QwenSharp.Engine;
using QwenSharp.Generation;
using QwenSharp.Server.Metrics;

namespace QwenSharp.Server.OpenAi;

/// <summary>
/// One choice of a request (one engine sequence): its stream of updates, started before the response
/// begins (so a full queue or a bad request is still answered with an error status), and its token timing
/// for the time-to-first-token and inter-token-latency metrics.
/// </summary>
public sealed class ChoiceStream(int index, IAsyncEnumerable<ChatUpdate> updates, CancellationToken ct, long requestStart, ServerMetrics metrics) : IAsyncDisposable
{
    readonly IAsyncEnumerator<ChatUpdate> _e = updates.GetAsyncEnumerator(ct);
    long _lastToken;
    bool _ended;

    public int Index => index;
    public ChatUpdate Current => _e.Current;
    /// <summary>Generated tokens seen so far.</summary>
    public int Tokens { get; private set; }
    /// <summary>Seconds from the request's arrival to this choice's first token (0 before it).</summary>
    public double TimeToFirstToken { get; private set; }

    /// <summary>Submits the sequence and waits for its first update.</summary>
    public async Task StartAsync()
    {
        if (!await MoveNextAsync().ConfigureAwait(false)) throw new InvalidOperationException("the generation ended without a result");
    }

    public async ValueTask<bool> MoveNextAsync()
    {
        if (_ended) return false;
        if (!await _e.MoveNextAsync().ConfigureAwait(false)) { _ended = true; return false; }
        if (_e.Current.TokenIds is { Count: > 0 } ids)
        {
            long now = Stopwatch.GetTimestamp();
            if (Tokens == 0)
            {
                TimeToFirstToken = Stopwatch.GetElapsedTime(requestStart, now).TotalSeconds;
                metrics.TimeToFirstToken(TimeToFirstToken);
            }
            else
            {
                metrics.InterTokenLatency(Stopwatch.GetElapsedTime(_lastToken, now).TotalSeconds);
            }
            _lastToken = now;
            Tokens += ids.Count;
            metrics.GeneratedTokens(ids.Count);
        }
        return true;
    }

    public ValueTask DisposeAsync() => _e.DisposeAsync();

    /// <summary>
    /// Starts every choice (each its own engine sequence) and waits until each has its first update.
    /// Engine refusals become OpenAI errors: a full queue 503 with Retry-After, a prompt over the
    /// context 400, an invalid request 422. On failure the started choices are cancelled and disposed.
    /// </summary>
    public static async Task StartAllAsync(IReadOnlyList<ChoiceStream> choices, CancellationTokenSource cancel, int retryAfterSeconds)
    {
        var starts = choices.Select(c => c.StartAsync()).ToArray();
        try
        {
            await Task.WhenAll(starts).ConfigureAwait(false);
        }
        catch
        {
            cancel.Cancel();
            await DisposeAllAsync(choices, starts).ConfigureAwait(false);
            var error = starts.Select(s => s.Exception?.InnerException).FirstOrDefault(e => e is not null and not OperationCanceledException)
                        ?? starts.Select(s => s.Exception?.InnerException).FirstOrDefault(e => e is not null);
            throw error switch
            {
                EngineOverloadedException e => OpenAiException.Overloaded(e.Message, retryAfterSeconds),
                PromptTooLongException e => OpenAiException.BadRequest(e.Message, "messages", "context_length_exceeded"),
                ArgumentException e => Unprocessable(e),
                ObjectDisposedException => new OpenAiException(503, "the server is shutting down", "server_error", code: "shutting_down"),
                null => new InvalidOperationException("starting the generation failed"),
                _ => error,
            };
        }
    }

    static OpenAiException Unprocessable(ArgumentException e)
    {
        string message = e.Message;
        int paren = message.LastIndexOf(" (Parameter '", StringComparison.Ordinal);
        if (paren > 0) message = message[..paren];
        int colon = message.IndexOf(':');
        string? param = colon > 0 && !message[..colon].Contains(' ') ? message[..colon] : null;
        return OpenAiException.Unprocessable(message, param);
    }

    /// <summary>Waits for pumps that may still be running, then disposes every choice (a choice not yet finished is cancelled).</summary>
    public static async Task DisposeAllAsync(IReadOnlyList<ChoiceStream> choices, IEnumerable<Task> running)
    {
        try { await Task.WhenAll(running).ConfigureAwait(false); } catch { /* reported by the caller */ }
        foreach (var c in choices)
        {
            try { await c.DisposeAsync().ConfigureAwait(false); } catch { /* already failed */ }
        }
    }
}
