using System.Collections.Concurrent;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging;
using QwenSharp.Engine;
using QwenSharp.Server;
using QwenSharp.Server.Hosting;

namespace QwenSharp.Tests.Server;

/// <summary>The server tests share CPU-heavy servers and the process-wide metrics listener: they run one at a time.</summary>
[CollectionDefinition("Server", DisableParallelization = true)]
public sealed class ServerCollection;

/// <summary>
/// A real Kestrel on 127.0.0.1 with an ephemeral port, serving a fixture model (one kernel thread, so
/// steps are not slowed by waking workers on a busy machine). Logs are captured for the tests to read.
/// </summary>
public sealed class TestServer : IAsyncDisposable
{
    public required Qwen Qwen { get; init; }
    public required WebApplication App { get; init; }
    public required Uri BaseUri { get; init; }
    public required HttpClient Http { get; init; }
    public required LogCapture Logs { get; init; }
    public required QwenServerOptions Options { get; init; }

    public static string ModelDir(string name = "qwen3-tiny") => Path.Combine(TestPaths.Fixtures, "models", name);
    public static string Template(string name) => File.ReadAllText(Path.Combine(TestPaths.Fixtures, "templates", name + ".jinja"));

    public static async Task<TestServer> StartAsync(Action<QwenServerOptions>? configure = null, string? template = "qwen3",
        Func<EngineOptions, EngineOptions>? engine = null, bool warmUp = false)
    {
        var engineOptions = new EngineOptions { Threads = 1, KvCacheTokens = 4096 };
        if (engine != null) engineOptions = engine(engineOptions);
        var qwen = Qwen.Load(ModelDir(), new QwenOptions
        {
            ChatTemplateOverride = template is null ? null : Template(template),
            Engine = engineOptions,
        });
        var options = new QwenServerOptions { WarmUp = warmUp, ShutdownTimeout = TimeSpan.FromSeconds(5) };
        configure?.Invoke(options);
        var logs = new LogCapture();
        var app = QwenServer.Create(qwen, options, "127.0.0.1", 0, l => { l.AddProvider(logs); l.SetMinimumLevel(LogLevel.Information); });
        await app.StartAsync();
        var address = QwenServer.Addresses(app).Single();
        var baseUri = new Uri(address);
        var http = new HttpClient { BaseAddress = baseUri, Timeout = TimeSpan.FromSeconds(90) };
        var server = new TestServer { Qwen = qwen, App = app, BaseUri = baseUri, Http = http, Logs = logs, Options = options };
        if (warmUp) await server.WaitReadyAsync();
        return server;
    }

    public async Task WaitReadyAsync()
    {
        for (int i = 0; i < 600; i++)
        {
            using var r = await Http.GetAsync("/ready");
            if (r.IsSuccessStatusCode) return;
            await Task.Delay(50);
        }
        throw new TimeoutException("the server did not become ready");
    }

    /// <summary>POSTs JSON text (as is: it may be malformed on purpose).</summary>
    public Task<HttpResponseMessage> PostAsync(string path, string json, string? key = null)
    {
        var req = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        if (key != null) req.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return Http.SendAsync(req);
    }

    public async Task<(int Status, JsonObject Body)> PostJsonAsync(string path, string json, string? key = null)
    {
        using var r = await PostAsync(path, json, key);
        var text = await r.Content.ReadAsStringAsync();
        return ((int)r.StatusCode, JsonNode.Parse(text)!.AsObject());
    }

    /// <summary>Token ids of a text (for scripting the model's output).</summary>
    public int[] Script(string text) => [.. Qwen.Tokenizer.Encode(text, parseSpecialTokens: true), Qwen.Tokenizer.TokenToId("<|im_end|>")!.Value];

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
        Qwen.Dispose();
    }
}

/// <summary>Keeps every log line written through it.</summary>
public sealed class LogCapture : ILoggerProvider
{
    public ConcurrentQueue<string> Lines { get; } = new();

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public bool Contains(string text) => Lines.Any(l => l.Contains(text, StringComparison.Ordinal));

    public void Dispose() { }

    sealed class Logger(LogCapture owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            owner.Lines.Enqueue($"{DateTime.Now:HH:mm:ss.fff} {logLevel} {category}: {formatter(state, exception)}{(exception is null ? "" : " " + exception)}");
    }
}

/// <summary>Reads an OpenAI SSE stream: the JSON of each "data:" event, until [DONE].</summary>
public static class Sse
{
    public static async Task<(List<JsonObject> Events, bool Done)> ReadAsync(HttpResponseMessage response, CancellationToken ct = default)
    {
        var events = new List<JsonObject>();
        using var stream = await response.Content.ReadAsStreamAsync(ct);
        using var reader = new StreamReader(stream);
        while (await reader.ReadLineAsync(ct) is { } line)
        {
            if (!line.StartsWith("data: ", StringComparison.Ordinal)) continue;
            string data = line[6..];
            if (data == "[DONE]") return (events, true);
            events.Add(JsonNode.Parse(data)!.AsObject());
        }
        return (events, false);
    }

    /// <summary>The streamed text of choice 0 (content deltas concatenated).</summary>
    public static string Content(IEnumerable<JsonObject> events, int index = 0, string field = "content") =>
        string.Concat(events.SelectMany(e => e["choices"]!.AsArray())
            .Where(c => (int)c!["index"]! == index)
            .Select(c => (string?)c!["delta"]?[field] ?? (string?)c!["text"] ?? ""));
}
