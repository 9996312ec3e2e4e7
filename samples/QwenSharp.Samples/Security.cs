// Shows: a server that is safe to expose: API keys (Bearer, constant-time comparison), per-key rate limits,
// input length limits, and logs that never contain prompt or completion text. Requests without a key, over the
// limits or too long get OpenAI-style errors (401, 429, 400).
using System.Net.Http.Headers;
using System.Text;
using Microsoft.Extensions.Logging;
using QwenSharp.Server;
using QwenSharp.Server.Hosting;

namespace QwenSharp.Samples;

public static class Security
{
    public static async Task<int> RunAsync(SampleArgs args)
    {
        using var qwen = await Qwen.LoadAsync(args.Model("Qwen/Qwen3-0.6B"));
        var options = new QwenServerOptions
        {
            RequestsPerMinute = 3,          // per API key
            MaxPromptTokens = 256,          // input length limit
            MaxTokensCap = args.MaxTokens(32),
            LogPrompts = false,             // the default: logs carry no prompt or completion text
        };
        options.ApiKeys.Add("alice-key");
        options.ApiKeys.Add("bob-key");
        var log = new StringWriter();
        await using var app = QwenServer.Create(qwen, options, "127.0.0.1", port: 0, logging: b => b.AddProvider(new WriterLoggerProvider(log)));
        await app.StartAsync();
        await QwenServer.WaitUntilReadyAsync(app); // requests before the warm-up ends get 503 + Retry-After
        using var http = new HttpClient { BaseAddress = new Uri(QwenServer.Addresses(app)[0]) };

        async Task<string> Ask(string? key, string text)
        {
            using var req = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
            {
                Content = new StringContent($$"""{"model": "{{qwen.Name}}", "max_tokens": 8, "messages": [{"role": "user", "content": "{{text}}"}]}""", Encoding.UTF8, "application/json"),
            };
            if (key != null) req.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
            using var res = await http.SendAsync(req);
            return $"{(int)res.StatusCode} {res.StatusCode}";
        }

        Console.WriteLine($"no key:              {await Ask(null, "hello")}");
        Console.WriteLine($"wrong key:           {await Ask("mallory", "hello")}");
        for (int i = 1; i <= 4; i++) Console.WriteLine($"alice request {i}:     {await Ask("alice-key", "secret question " + i)}");
        Console.WriteLine($"bob (own limit):     {await Ask("bob-key", "hello")}");
        Console.WriteLine($"too long a prompt:   {await Ask("bob-key", string.Concat(Enumerable.Repeat("word ", 2000)))}");
        await app.StopAsync();
        Console.WriteLine($"server log lines: {log.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Length}; prompt text in the log: {log.ToString().Contains("secret question")}");
        return 0;
    }

    sealed class WriterLoggerProvider(TextWriter writer) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new WriterLogger(writer);
        public void Dispose() { }
    }

    sealed class WriterLogger(TextWriter writer) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;
        public void Log<TState>(LogLevel level, EventId id, TState state, Exception? e, Func<TState, Exception?, string> format)
        {
            lock (writer) writer.WriteLine($"{level}: {format(state, e)}");
        }
    }
}
