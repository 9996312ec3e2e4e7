using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using QwenSharp.Engine;
using QwenSharp.Server;
using QwenSharp.Server.Hosting;

namespace QwenSharp.Bench;

/// <summary>
/// Load on `qwensharp serve`'s stack: 1, 4, 8 and 16 concurrent streaming chat clients against an
/// in-process server (real Kestrel on 127.0.0.1, the OpenAI endpoints, continuous batching) serving a
/// random-weight model of Qwen2.5-0.5B's shape. Each client sends its requests one after another; every
/// request has its own prompt and seed and generates exactly --max-tokens tokens (ignore_eos). Reported:
/// aggregate output tokens/s over the round, time to first token and inter-token latency (p50, p99).
/// </summary>
public sealed class ServerLoadBench : IBenchmark
{
    public string Name => "server-load";
    public string Description => "Concurrent streaming clients vs an in-process server: --clients 1,4,8,16 --requests 2 --max-tokens 64 --prompt-words 48 [--max-batch-tokens 512] [--model DIR] [--threads N]";

    public int Run(string[] args) => RunAsync(Args(args)).GetAwaiter().GetResult();

    static Dictionary<string, string> Args(string[] args)
    {
        var d = new Dictionary<string, string>();
        for (int i = 0; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal)) throw new ArgumentException($"unexpected argument '{args[i]}'");
            d[args[i][2..]] = i + 1 < args.Length && !args[i + 1].StartsWith("--", StringComparison.Ordinal) ? args[++i] : "true";
        }
        return d;
    }

    static async Task<int> RunAsync(Dictionary<string, string> a)
    {
        string root = FindRoot();
        string model = a.TryGetValue("model", out var m) ? m : ServerBenchModel.Ensure(Path.Combine(root, "bench", "out", "qwen2.5-0.5b-random"), root);
        int[] clients = (a.GetValueOrDefault("clients") ?? "1,4,8,16").Split(',').Select(int.Parse).ToArray();
        int requests = int.Parse(a.GetValueOrDefault("requests") ?? "2");
        int maxTokens = int.Parse(a.GetValueOrDefault("max-tokens") ?? "64");
        int promptWords = int.Parse(a.GetValueOrDefault("prompt-words") ?? "48");
        int? threads = a.TryGetValue("threads", out var t) ? int.Parse(t) : null;
        int batchTokens = int.Parse(a.GetValueOrDefault("max-batch-tokens") ?? "512");

        var load = Stopwatch.StartNew();
        using var qwen = Qwen.Load(model, new QwenOptions { Engine = new EngineOptions { KvCacheTokens = 16384, Threads = threads, MaxBatchTokens = batchTokens } });
        Console.WriteLine($"model {model}: {qwen.Model.Config.NumHiddenLayers} layers, hidden {qwen.Model.Config.HiddenSize}, loaded in {load.Elapsed.TotalSeconds:F1} s");
        var options = new QwenServerOptions { WarmUp = true };
        await using var app = QwenServer.Create(qwen, options, "127.0.0.1", 0, l => { });
        await app.StartAsync();
        var baseUri = new Uri(QwenServer.Addresses(app).Single());
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 256 }) { BaseAddress = baseUri, Timeout = TimeSpan.FromMinutes(30) };
        var warm = Stopwatch.StartNew();
        while (!(await http.GetAsync("/ready")).IsSuccessStatusCode) await Task.Delay(100);
        Console.WriteLine($"server on {baseUri} ready after {warm.Elapsed.TotalSeconds:F1} s of warm-up; {Environment.ProcessorCount} cores, kernel threads {threads?.ToString() ?? "default"}, max batch tokens {batchTokens}");
        Console.WriteLine($"each client: {requests} streaming chat requests one after another, ~{promptWords}-word prompt, {maxTokens} output tokens (ignore_eos, temperature 0.7)");
        Console.WriteLine();
        Console.WriteLine("| clients | output tokens | wall s | aggregate tok/s | vs 1 client | TTFT p50 ms | TTFT p99 ms | ITL p50 ms | ITL p99 ms | load avg |");
        Console.WriteLine("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
        double? single = null;
        foreach (int c in clients)
        {
            string loadBefore = LoadAverage();
            var ttft = new List<double>();
            var itl = new List<double>();
            long tokens = 0;
            var wall = Stopwatch.StartNew();
            await Task.WhenAll(Enumerable.Range(0, c).Select(async client =>
            {
                for (int r = 0; r < requests; r++)
                {
                    var (first, gaps, n) = await StreamOne(http, Prompt(c, client, r, promptWords), maxTokens, seed: c * 10000 + client * 100 + r);
                    lock (ttft)
                    {
                        ttft.Add(first);
                        itl.AddRange(gaps);
                        tokens += n;
                    }
                }
            }));
            double secs = wall.Elapsed.TotalSeconds;
            double rate = tokens / secs;
            single ??= c == 1 ? rate : null;
            string speedup = single is double s1 ? $"{rate / s1:F2}x" : "";
            Console.WriteLine($"| {c} | {tokens} | {secs:F1} | {rate:F1} | {speedup} | {P(ttft, 50):F0} | {P(ttft, 99):F0} | {P(itl, 50):F0} | {P(itl, 99):F0} | {loadBefore} → {LoadAverage()} |");
        }
        await app.StopAsync();
        return 0;
    }

    static string Prompt(int round, int client, int request, int words)
    {
        var rng = new Random(round * 7919 + client * 131 + request);
        string[] vocabulary = ["river", "engine", "blue", "quietly", "matrix", "seven", "garden", "compile", "north", "lantern", "orbit", "paper", "signal", "velvet", "thunder", "copper"];
        var sb = new StringBuilder($"Client {client}, request {request}: ");
        for (int i = 0; i < words; i++) sb.Append(vocabulary[rng.Next(vocabulary.Length)]).Append(' ');
        return sb.ToString();
    }

    /// <summary>One streaming request; returns time to first token (ms), the gaps between tokens (ms) and the token count.</summary>
    static async Task<(double First, List<double> Gaps, int Tokens)> StreamOne(HttpClient http, string prompt, int maxTokens, int seed)
    {
        var body = new JsonObject
        {
            ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = prompt }),
            ["max_tokens"] = maxTokens, ["ignore_eos"] = true, ["temperature"] = 0.7, ["seed"] = seed,
            ["stream"] = true, ["stream_options"] = new JsonObject { ["include_usage"] = true },
            // One chunk per token (a chunk carries its token's logprob even when the text is held back).
            ["logprobs"] = true,
        };
        var sw = Stopwatch.StartNew();
        using var req = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json") };
        using var response = await http.SendAsync(req, HttpCompletionOption.ResponseHeadersRead);
        response.EnsureSuccessStatusCode();
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        double first = -1, last = 0;
        var gaps = new List<double>(maxTokens);
        int tokens = 0;
        while (await reader.ReadLineAsync() is { } line)
        {
            if (!line.StartsWith("data: ", StringComparison.Ordinal)) continue;
            if (line == "data: [DONE]") break;
            var chunk = JsonNode.Parse(line.AsSpan(6).ToString())!;
            if (chunk["error"] != null) throw new InvalidOperationException("stream error: " + chunk.ToJsonString());
            if (chunk["usage"] is JsonObject u) tokens = (int)u["completion_tokens"]!;
            var choice = chunk["choices"]?.AsArray().FirstOrDefault();
            if (choice?["logprobs"]?["content"] is not JsonArray lp) continue;
            double now = sw.Elapsed.TotalMilliseconds;
            for (int k = 0; k < lp.Count; k++)
            {
                if (first < 0) first = now;
                else gaps.Add(k == 0 ? now - last : 0);
                last = now;
            }
        }
        return (first, gaps, tokens);
    }

    static double P(List<double> values, double percentile)
    {
        if (values.Count == 0) return double.NaN;
        var sorted = values.OrderBy(v => v).ToArray();
        int i = (int)Math.Ceiling(percentile / 100 * sorted.Length) - 1;
        return sorted[Math.Clamp(i, 0, sorted.Length - 1)];
    }

    static string LoadAverage()
    {
        try { return File.ReadAllText("/proc/loadavg").Split(' ')[0]; }
        catch (IOException) { return "?"; }
    }

    static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir != null && !File.Exists(Path.Combine(dir.FullName, "QwenSharp.slnx"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("cannot find the repository root (QwenSharp.slnx)");
    }
}
