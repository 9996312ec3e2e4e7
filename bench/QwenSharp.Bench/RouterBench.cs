using System.Diagnostics;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using QwenSharp.Router;

namespace QwenSharp.Bench;

/// <summary>
/// The router with local `qwensharp serve` replicas (processes of the CLI built next to this program, a fixture
/// model): aggregate output tokens/s through the router with 1 and 2 replicas, and the replicas' prefix-cache hit
/// rate on multi-turn chats with affinity routing (the router) and without (each request straight to a random replica,
/// as a Kubernetes Service spreads connections).
/// </summary>
public sealed partial class RouterBench : IBenchmark
{
    public string Name => "router";
    public string Description => "router: throughput with 1 vs 2 local replicas; prefix-cache hit rate with and without affinity";

    public int Run(string[] args)
    {
        string model = Arg(args, "--model") ?? Path.Combine(FindRoot(), "tests", "fixtures", "models", "qwen3-tiny");
        int threads = int.Parse(Arg(args, "--threads") ?? "1");
        int clients = int.Parse(Arg(args, "--clients") ?? "8");
        int requests = int.Parse(Arg(args, "--requests") ?? "64");
        int maxTokens = int.Parse(Arg(args, "--max-tokens") ?? "64");
        int conversations = int.Parse(Arg(args, "--conversations") ?? "16");
        int turns = int.Parse(Arg(args, "--turns") ?? "4");
        int rounds = int.Parse(Arg(args, "--rounds") ?? "3");
        Console.WriteLine($"model {model}, {threads} kernel thread(s) per replica, {Environment.ProcessorCount} cores");
        return RunAsync(model, threads, clients, requests, maxTokens, conversations, turns, rounds).GetAwaiter().GetResult();
    }

    static async Task<int> RunAsync(string model, int threads, int clients, int requests, int maxTokens, int conversations, int turns, int rounds)
    {
        var replicas = new List<Replica>();
        try
        {
            for (int i = 0; i < 2; i++) replicas.Add(await Replica.StartAsync(model, threads));

            // 1 and 2 replicas alternate, `rounds` times, and the medians are reported: on a shared machine the load
            // drifts, and alternating keeps the drift out of the ratio.
            Console.WriteLine();
            Console.WriteLine($"## Throughput: {clients} concurrent clients, {requests} chat requests of {maxTokens} tokens (ignore_eos), through the router, median of {rounds} alternating rounds");
            Console.WriteLine("| replicas | output tokens/s | requests/s | each round (tokens/s) |");
            Console.WriteLine("| --- | --- | --- | --- |");
            await using (var one = await StartRouter(replicas.Take(1)))
            await using (var two = await StartRouter(replicas))
            {
                var runs = new Dictionary<int, List<(double Tps, double Rps)>> { [1] = [], [2] = [] };
                await Throughput(one.Url, clients, 8, maxTokens); // warm-up
                await Throughput(two.Url, clients, 8, maxTokens);
                for (int round = 0; round < rounds; round++)
                    foreach (var (n, router) in new[] { (1, one), (2, two) })
                    {
                        var (tps, rps, _) = await Throughput(router.Url, clients, requests, maxTokens);
                        runs[n].Add((tps, rps));
                    }
                foreach (var (n, list) in runs)
                {
                    double Median(IEnumerable<double> v) { var a = v.Order().ToArray(); return a.Length % 2 == 1 ? a[a.Length / 2] : (a[a.Length / 2 - 1] + a[a.Length / 2]) / 2; }
                    Console.WriteLine($"| {n} | {Median(list.Select(x => x.Tps)):F0} | {Median(list.Select(x => x.Rps)):F1} | {string.Join(", ", list.Select(x => x.Tps.ToString("F0")))} |");
                }
            }

            Console.WriteLine();
            Console.WriteLine($"## Prefix-cache hit rate: {conversations} multi-turn chats x {turns} user turns, shared system prompt, 2 replicas");
            Console.WriteLine("| routing | prompt tokens | tokens from prefix cache | hit rate |");
            Console.WriteLine("| --- | --- | --- | --- |");
            foreach (bool affinity in new[] { false, true })
            {
                // Fresh replicas: empty caches.
                foreach (var r in replicas) await r.DisposeAsync();
                replicas.Clear();
                for (int i = 0; i < 2; i++) replicas.Add(await Replica.StartAsync(model, threads));
                var before = await Totals(replicas);
                await using var router = affinity ? await StartRouter(replicas) : null;
                // Without the router: each request to a replica picked at random, as a Kubernetes Service (kube-proxy) does.
                var random = new Random(12345);
                Func<string> target = affinity ? () => router!.Url : () => { lock (random) return replicas[random.Next(replicas.Count)].Url; };
                await MultiTurn(target, conversations, turns);
                var after = await Totals(replicas);
                double queries = after.Queries - before.Queries, hits = after.Hits - before.Hits;
                Console.WriteLine($"| {(affinity ? "router (prefix affinity)" : "random replica (a plain Service)")} | {queries:F0} | {hits:F0} | {100 * hits / Math.Max(1, queries):F1}% |");
            }
            return 0;
        }
        finally
        {
            foreach (var r in replicas) await r.DisposeAsync();
        }
    }

    sealed class RunningRouter(WebApplication app, string url) : IAsyncDisposable
    {
        public string Url => url;
        public async ValueTask DisposeAsync()
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }

    static async Task<RunningRouter> StartRouter(IEnumerable<Replica> replicas)
    {
        var o = new RouterOptions { HealthCheckInterval = TimeSpan.FromMilliseconds(500) };
        foreach (var r in replicas) o.Backends.Add(new BackendOptions(r.Url));
        var app = RouterHost.Create(o, "127.0.0.1", 0, logging: _ => { });
        await app.StartAsync();
        var url = RouterHost.Addresses(app).Single();
        using var http = new HttpClient();
        for (int i = 0; i < 200 && !(await http.GetAsync(url + "/ready")).IsSuccessStatusCode; i++) await Task.Delay(50);
        return new RunningRouter(app, url);
    }

    static readonly HttpClient Http = new() { Timeout = TimeSpan.FromMinutes(10) };

    static JsonObject Chat(JsonArray messages, int maxTokens, bool ignoreEos) => new()
    {
        ["model"] = "qwen3-tiny",
        ["messages"] = messages.DeepClone(),
        ["max_tokens"] = maxTokens,
        ["temperature"] = 0,
        ["ignore_eos"] = ignoreEos,
    };

    static async Task<(double TokensPerSecond, double RequestsPerSecond, double Seconds)> Throughput(string url, int clients, int requests, int maxTokens)
    {
        long tokens = 0;
        int issued = -1;
        var sw = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, clients).Select(async c =>
        {
            int i;
            while ((i = Interlocked.Increment(ref issued)) < requests)
            {
                var messages = new JsonArray { new JsonObject { ["role"] = "user", ["content"] = $"Request {i}: write a long story about the number {i}." } };
                using var resp = await Http.PostAsJsonAsync(url + "/v1/chat/completions", Chat(messages, maxTokens, ignoreEos: true));
                resp.EnsureSuccessStatusCode();
                var body = JsonNode.Parse(await resp.Content.ReadAsStringAsync())!;
                Interlocked.Add(ref tokens, body["usage"]!["completion_tokens"]!.GetValue<long>());
            }
        }));
        double s = sw.Elapsed.TotalSeconds;
        return (tokens / s, requests / s, s);
    }

    /// <summary>Turn t of every conversation (all at once), then turn t + 1, each turn carrying the whole history.</summary>
    static async Task MultiTurn(Func<string> url, int conversations, int turns)
    {
        const string system = "You are a helpful assistant for a bookshop. Answer in one short sentence, politely, and never invent titles.";
        var histories = Enumerable.Range(0, conversations).Select(_ => new JsonArray { new JsonObject { ["role"] = "system", ["content"] = system } }).ToList();
        for (int t = 0; t < turns; t++)
        {
            await Task.WhenAll(histories.Select(async (h, c) =>
            {
                h.Add(new JsonObject { ["role"] = "user", ["content"] = $"Customer {c}, question {t}: do you have books about topic number {c * 7 + t}?" });
                using var resp = await Http.PostAsJsonAsync(url() + "/v1/chat/completions", Chat(h, 16, ignoreEos: true));
                resp.EnsureSuccessStatusCode();
                var answer = JsonNode.Parse(await resp.Content.ReadAsStringAsync())!["choices"]![0]!["message"]!["content"]!.GetValue<string>();
                h.Add(new JsonObject { ["role"] = "assistant", ["content"] = answer });
            }));
        }
    }

    static async Task<(double Queries, double Hits)> Totals(IEnumerable<Replica> replicas)
    {
        double q = 0, h = 0;
        foreach (var r in replicas)
        {
            var m = PrometheusText.SumByName(await Http.GetStringAsync(r.Url + "/metrics"));
            q += m.GetValueOrDefault("vllm:prefix_cache_queries_total");
            h += m.GetValueOrDefault("vllm:prefix_cache_hits_total");
        }
        return (q, h);
    }

    /// <summary>A `qwensharp serve` process on 127.0.0.1 with a free port.</summary>
    sealed partial class Replica : IAsyncDisposable
    {
        Process _p = null!;
        public string Url { get; private set; } = "";

        public static async Task<Replica> StartAsync(string model, int threads)
        {
            var psi = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } h ? h : "dotnet")
            { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
            foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "QwenSharp.Cli.dll"), "serve", "--model", model, "--port", "0", "--threads", threads.ToString() })
                psi.ArgumentList.Add(a);
            var r = new Replica { _p = Process.Start(psi)! };
            var url = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
            var log = new StringBuilder();
            void Line(string? s)
            {
                if (s is null) return;
                lock (log) log.AppendLine(s);
                if (Serving().Match(s) is { Success: true } m) url.TrySetResult(m.Groups[1].Value);
            }
            r._p.ErrorDataReceived += (_, e) => Line(e.Data);
            r._p.OutputDataReceived += (_, e) => Line(e.Data);
            r._p.BeginErrorReadLine();
            r._p.BeginOutputReadLine();
            _ = r._p.WaitForExitAsync().ContinueWith(_ => url.TrySetException(new InvalidOperationException("serve exited:\n" + log)));
            r.Url = await url.Task.WaitAsync(TimeSpan.FromMinutes(2));
            for (int i = 0; i < 1200; i++)
            {
                try { if ((await Http.GetAsync(r.Url + "/ready")).IsSuccessStatusCode) return r; }
                catch (HttpRequestException) { }
                await Task.Delay(50);
            }
            throw new TimeoutException("replica not ready:\n" + log);
        }

        [GeneratedRegex(@" on (http://[0-9.]+:\d+)")]
        private static partial Regex Serving();

        public ValueTask DisposeAsync()
        {
            if (!_p.HasExited) _p.Kill(entireProcessTree: true);
            _p.WaitForExit(10_000);
            _p.Dispose();
            return ValueTask.CompletedTask;
        }
    }

    static string? Arg(string[] args, string name)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }

    static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir != null && !File.Exists(Path.Combine(dir.FullName, "QwenSharp.slnx"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("cannot find the repository root");
    }
}
