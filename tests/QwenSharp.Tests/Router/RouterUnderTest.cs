using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using QwenSharp.Router;

namespace QwenSharp.Tests.Router;

/// <summary>The router on 127.0.0.1 with a random port in front of the given replica URLs, plus request helpers.</summary>
public sealed class RouterUnderTest : IAsyncDisposable
{
    public required WebApplication App { get; init; }
    public required string Url { get; init; }
    public required HttpClient Client { get; init; }
    public BackendPool Pool => App.Services.GetRequiredService<BackendPool>();
    public HealthMonitor Monitor => App.Services.GetRequiredService<HealthMonitor>();

    /// <summary>Starts the router. Active checks run once at start and then only when a test calls
    /// <see cref="CheckAllAsync"/> (the interval is an hour), unless <paramref name="configure"/> changes it.</summary>
    public static async Task<RouterUnderTest> StartAsync(IEnumerable<string> backends, Action<RouterOptions>? configure = null)
    {
        var options = new RouterOptions { HealthCheckInterval = TimeSpan.FromHours(1), ConnectTimeout = TimeSpan.FromSeconds(2) };
        foreach (var b in backends) options.Backends.Add(new BackendOptions(b));
        configure?.Invoke(options);
        var app = RouterHost.Create(options, "127.0.0.1", 0, logging: l => { });
        await app.StartAsync();
        var url = RouterHost.Addresses(app).Single();
        var r = new RouterUnderTest { App = app, Url = url, Client = new HttpClient { BaseAddress = new Uri(url), Timeout = TimeSpan.FromSeconds(60) } };
        await r.CheckAllAsync();
        return r;
    }

    /// <summary>One round of active checks of every replica (health, load, models), now.</summary>
    public Task CheckAllAsync() => Monitor.CheckAllAsync(CancellationToken.None);

    public Backend Backend(StubReplica s) => Pool.Backends.Single(b => b.Name == s.Url.TrimEnd('/'));

    /// <summary>A chat body: a system prompt, then the turns alternating user, assistant, user...</summary>
    public static JsonObject Chat(string model, string system, IEnumerable<string> turns, bool stream = false)
    {
        var messages = new JsonArray { new JsonObject { ["role"] = "system", ["content"] = system } };
        int i = 0;
        foreach (var t in turns) messages.Add(new JsonObject { ["role"] = i++ % 2 == 0 ? "user" : "assistant", ["content"] = t });
        var body = new JsonObject { ["model"] = model, ["messages"] = messages };
        if (stream) body["stream"] = true;
        return body;
    }

    public static StringContent Json(JsonNode body) => new(body.ToJsonString(), Encoding.UTF8, "application/json");

    /// <summary>Posts a body and returns the status, the replica that answered (X-Replica) and the body text.</summary>
    public async Task<(int Status, string? Replica, string Body)> PostAsync(string path, JsonNode body, string? apiKey = null)
    {
        using var req = new HttpRequestMessage(HttpMethod.Post, path) { Content = Json(body) };
        if (apiKey is not null) req.Headers.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        using var resp = await Client.SendAsync(req);
        string? replica = resp.Headers.TryGetValues("X-Replica", out var v) ? v.Single() : null;
        return ((int)resp.StatusCode, replica, await resp.Content.ReadAsStringAsync());
    }

    /// <summary>Starts a streaming request and returns once its headers arrived.</summary>
    public async Task<SseReader> StreamAsync(string path, JsonNode body)
    {
        var req = new HttpRequestMessage(HttpMethod.Post, path) { Content = Json(body) };
        var resp = await Client.SendAsync(req, HttpCompletionOption.ResponseHeadersRead);
        return new SseReader(resp);
    }

    public async Task<string> MetricsAsync() => await Client.GetStringAsync("/metrics");

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await App.StopAsync(new CancellationToken(canceled: true));
        await App.DisposeAsync();
    }
}

/// <summary>Reads a server-sent-event response one event at a time.</summary>
public sealed class SseReader(HttpResponseMessage response) : IDisposable
{
    StreamReader? _reader;
    public HttpResponseMessage Response { get; } = response;
    public string? Replica => Response.Headers.TryGetValues("X-Replica", out var v) ? v.Single() : null;

    /// <summary>The next event's data (null at the end of the stream), within <paramref name="timeout"/> (default 20 s).</summary>
    public async Task<string?> NextAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(20));
        _reader ??= new StreamReader(await Response.Content.ReadAsStreamAsync(cts.Token));
        string? data = null;
        while (true)
        {
            var line = await _reader.ReadLineAsync(cts.Token);
            if (line is null) return data;
            if (line.Length == 0)
            {
                if (data is not null) return data;
                continue;
            }
            if (line.StartsWith("data: ", StringComparison.Ordinal)) data = data is null ? line[6..] : data + "\n" + line[6..];
        }
    }

    /// <summary>Every remaining event's data.</summary>
    public async Task<List<string>> RestAsync()
    {
        var all = new List<string>();
        while (await NextAsync() is string e) all.Add(e);
        return all;
    }

    public void Dispose() => Response.Dispose();
}
