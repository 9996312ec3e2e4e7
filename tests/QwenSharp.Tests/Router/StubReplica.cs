using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using QwenSharp.Router;

namespace QwenSharp.Tests.Router;

/// <summary>
/// A stand-in for a `qwensharp serve` replica on 127.0.0.1 (a minimal Kestrel app speaking the same endpoints):
/// chat and text completions, streamed slowly as server-sent events or answered whole, /v1/models, /health,
/// /ready, and vLLM-named metrics, with a simulated prefix cache (hits counted in characters of the canonical
/// leading messages seen before). Every answer says which replica gave it (header X-Replica). A stream can be
/// held after its first chunk until the test releases it, and the replica can be killed (connections aborted,
/// port closed).
/// </summary>
public sealed class StubReplica : IAsyncDisposable
{
    readonly WebApplication _app;
    readonly ConcurrentDictionary<HttpContext, byte> _active = new();
    readonly HashSet<string> _cachedPrefixes = [];
    readonly object _lock = new();
    long _prefixHits, _prefixQueries;
    int _running;
    TaskCompletionSource _gate = NewGate(open: true);

    public string Name { get; }
    public string Url { get; private set; } = "";
    public IReadOnlyList<string> Models { get; }
    /// <summary>Chunks of content in each streamed answer.</summary>
    public int StreamChunks { get; set; } = 4;
    /// <summary>Pause between streamed chunks.</summary>
    public TimeSpan ChunkDelay { get; set; } = TimeSpan.FromMilliseconds(5);
    /// <summary>/ready answers 503 while false.</summary>
    public bool Ready { get; set; } = true;
    /// <summary>Reported as vllm:num_requests_waiting when set (else 0).</summary>
    public double? Waiting { get; set; }
    /// <summary>Reported as vllm:kv_cache_usage_perc.</summary>
    public double KvUsage { get; set; } = 0.1;
    /// <summary>The next this-many generation requests get 503 (overloaded).</summary>
    public int RefuseNext;
    public bool Killed { get; private set; }

    /// <summary>Every generation request received: its body and Authorization header.</summary>
    public ConcurrentQueue<(JsonObject Body, string? Authorization)> Received { get; } = new();
    public long PrefixCacheHits => Interlocked.Read(ref _prefixHits);
    public int Count => Received.Count;

    StubReplica(string name, IReadOnlyList<string> models, System.Net.IPAddress? address = null, int port = 0)
    {
        Name = name;
        Models = models;
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(address ?? System.Net.IPAddress.Loopback, port));
        _app = builder.Build();
        _app.MapPost("/v1/chat/completions", ctx => Generate(ctx, chat: true));
        _app.MapPost("/v1/completions", ctx => Generate(ctx, chat: false));
        _app.MapGet("/v1/models", () => Results.Json(new JsonObject
        {
            ["object"] = "list",
            ["data"] = new JsonArray(Models.Select(m => (JsonNode)new JsonObject { ["id"] = m, ["object"] = "model", ["created"] = 0, ["owned_by"] = Name }).ToArray()),
        }));
        _app.MapGet("/health", () => Results.Ok());
        _app.MapGet("/ready", () => Ready ? Results.Ok() : Results.StatusCode(503));
        _app.MapGet("/metrics", () => Results.Text(Metrics(), "text/plain; version=0.0.4"));
    }

    public static Task<StubReplica> StartAsync(string name, params string[] models) => StartAtAsync(name, null, 0, models);

    /// <summary>A stub on a given loopback address and port (0: any free port).</summary>
    public static async Task<StubReplica> StartAtAsync(string name, System.Net.IPAddress? address, int port, params string[] models)
    {
        var s = new StubReplica(name, models.Length == 0 ? ["tiny"] : models, address, port);
        try { await s._app.StartAsync(); }
        catch
        {
            await s._app.DisposeAsync();
            throw;
        }
        s.Url = RouterHost.Addresses(s._app).Single();
        return s;
    }

    /// <summary>From now on, streams stop after their first chunk until <see cref="Release"/>.</summary>
    public void Hold() => _gate = NewGate(open: false);
    public void Release() => _gate.TrySetResult();

    /// <summary>Streams that have sent their first chunk and are waiting at the gate.</summary>
    public int Waiters;

    /// <summary>Aborts every connection in progress and stops listening, as a crashed process would.</summary>
    public async Task KillAsync()
    {
        Killed = true;
        foreach (var ctx in _active.Keys) ctx.Abort();
        await _app.StopAsync(new CancellationToken(canceled: true));
    }

    string Metrics()
    {
        var inv = CultureInfo.InvariantCulture;
        return $"""
            # HELP vllm:num_requests_running Number of requests in model execution batches.
            # TYPE vllm:num_requests_running gauge
            vllm:num_requests_running{"{"}model_name="{Models[0]}"{"}"} {Volatile.Read(ref _running)}
            # TYPE vllm:num_requests_waiting gauge
            vllm:num_requests_waiting{"{"}model_name="{Models[0]}"{"}"} {(Waiting ?? 0).ToString(inv)}
            # TYPE vllm:kv_cache_usage_perc gauge
            vllm:kv_cache_usage_perc{"{"}model_name="{Models[0]}"{"}"} {KvUsage.ToString(inv)}
            # TYPE vllm:prefix_cache_queries_total counter
            vllm:prefix_cache_queries_total{"{"}model_name="{Models[0]}"{"}"} {PrefixCacheQueriesValue}
            # TYPE vllm:prefix_cache_hits_total counter
            vllm:prefix_cache_hits_total{"{"}model_name="{Models[0]}"{"}"} {PrefixCacheHits}

            """;
    }

    long PrefixCacheQueriesValue => Interlocked.Read(ref _prefixQueries);

    async Task Generate(HttpContext ctx, bool chat)
    {
        _active[ctx] = 0;
        Interlocked.Increment(ref _running);
        try
        {
            JsonObject body;
            try { body = (JsonObject)(await JsonNode.ParseAsync(ctx.Request.Body))!; }
            catch (JsonException)
            {
                ctx.Response.StatusCode = 400;
                await ctx.Response.WriteAsJsonAsync(new { error = new { message = "malformed JSON", type = "invalid_request_error", code = (string?)null } });
                return;
            }
            Received.Enqueue((body, ctx.Request.Headers.Authorization.ToString() is { Length: > 0 } a ? a : null));
            if (TakeRefusal())
            {
                ctx.Response.StatusCode = 503;
                await ctx.Response.WriteAsJsonAsync(new { error = new { message = "overloaded", type = "server_error", code = "overloaded" } });
                return;
            }
            SimulatePrefixCache(body, chat);
            ctx.Response.Headers["X-Replica"] = Name;
            string model = body["model"]?.GetValue<string>() ?? Models[0];
            if (body["stream"]?.GetValue<bool>() == true)
            {
                ctx.Response.ContentType = "text/event-stream";
                ctx.Response.Headers.CacheControl = "no-cache";
                var gate = _gate;
                for (int i = 0; i < StreamChunks; i++)
                {
                    var chunk = chat
                        ? new JsonObject { ["id"] = "c", ["object"] = "chat.completion.chunk", ["model"] = model, ["choices"] = new JsonArray(new JsonObject { ["index"] = 0, ["delta"] = new JsonObject { ["content"] = $"{Name}-{i} " } }) }
                        : new JsonObject { ["id"] = "c", ["object"] = "text_completion", ["model"] = model, ["choices"] = new JsonArray(new JsonObject { ["index"] = 0, ["text"] = $"{Name}-{i} " }) };
                    await ctx.Response.WriteAsync("data: " + chunk.ToJsonString() + "\n\n", ctx.RequestAborted);
                    await ctx.Response.Body.FlushAsync(ctx.RequestAborted);
                    if (i == 0 && !gate.Task.IsCompleted)
                    {
                        Interlocked.Increment(ref Waiters);
                        await gate.Task.WaitAsync(ctx.RequestAborted);
                    }
                    await Task.Delay(ChunkDelay, ctx.RequestAborted);
                }
                await ctx.Response.WriteAsync("data: [DONE]\n\n", ctx.RequestAborted);
            }
            else
            {
                await Task.Delay(ChunkDelay, ctx.RequestAborted);
                var answer = chat
                    ? new JsonObject { ["id"] = "c", ["object"] = "chat.completion", ["model"] = model, ["choices"] = new JsonArray(new JsonObject { ["index"] = 0, ["message"] = new JsonObject { ["role"] = "assistant", ["content"] = $"answer from {Name}" }, ["finish_reason"] = "stop" }) }
                    : new JsonObject { ["id"] = "c", ["object"] = "text_completion", ["model"] = model, ["choices"] = new JsonArray(new JsonObject { ["index"] = 0, ["text"] = $"answer from {Name}", ["finish_reason"] = "stop" }) };
                ctx.Response.ContentType = "application/json";
                await ctx.Response.WriteAsync(answer.ToJsonString(), ctx.RequestAborted);
            }
        }
        catch (OperationCanceledException) { }
        finally
        {
            Interlocked.Decrement(ref _running);
            _active.TryRemove(ctx, out _);
        }
    }

    bool TakeRefusal()
    {
        while (true)
        {
            int v = Volatile.Read(ref RefuseNext);
            if (v <= 0) return false;
            if (Interlocked.CompareExchange(ref RefuseNext, v - 1, v) == v) return true;
        }
    }

    /// <summary>Counts, in characters, how much of the request's leading messages this replica saw before.</summary>
    void SimulatePrefixCache(JsonObject body, bool chat)
    {
        var parts = new List<string>();
        if (chat && body["messages"] is JsonArray messages)
            foreach (var m in messages) parts.Add(m!["role"] + ":" + m["content"]);
        else parts.Add(body["prompt"]?.ToString() ?? "");
        lock (_lock)
        {
            var prefix = new StringBuilder();
            long hit = 0;
            bool matching = true;
            foreach (var p in parts)
            {
                prefix.Append(p).Append('\u001e');
                string key = prefix.ToString();
                if (matching && _cachedPrefixes.Contains(key)) hit = key.Length;
                else matching = false;
                _cachedPrefixes.Add(key);
            }
            _prefixHits += hit;
            _prefixQueries += prefix.Length;
        }
    }

    static TaskCompletionSource NewGate(bool open)
    {
        var t = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (open) t.SetResult();
        return t;
    }

    public async ValueTask DisposeAsync()
    {
        Release();
        if (!Killed) await _app.StopAsync(new CancellationToken(canceled: true));
        await _app.DisposeAsync();
    }
}
