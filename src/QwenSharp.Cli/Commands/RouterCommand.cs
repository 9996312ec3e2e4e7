using System.CommandLine;
using Microsoft.Extensions.Hosting;
using QwenSharp.Router;

namespace QwenSharp.Cli.Commands;

/// <summary>
/// `qwensharp router --backend URL --backend URL ... [--port 8000] [--host 127.0.0.1] [--api-key KEY]` (or
/// `--backend-dns URL` to find the replicas through DNS): one OpenAI
/// endpoint in front of several `qwensharp serve` replicas, sending requests that share a prompt prefix to the
/// replica that likely holds it in its cache (docs/deployment.md).
/// </summary>
public static class RouterCommand
{
    public const string ApiKeyVariable = "QWENSHARP_API_KEY";
    public const string BackendApiKeyVariable = "QWENSHARP_BACKEND_API_KEY";

    public static Command Create()
    {
        var backends = new Option<string[]>("--backend")
        {
            Description = "A replica's base URL, e.g. http://10.0.0.5:8080 (repeat for each replica)",
        };
        var backendDns = new Option<string[]>("--backend-dns")
        {
            Description = "A URL whose host name resolves to the replicas' addresses, re-resolved at every check (e.g. a Kubernetes headless Service: http://qwensharp-replicas:8080)",
        };
        var host = new Option<string>("--host") { Description = "Address to listen on", DefaultValueFactory = _ => "127.0.0.1" };
        var port = new Option<int>("--port") { Description = "Port to listen on", DefaultValueFactory = _ => 8000 };
        var apiKeys = new Option<string[]>("--api-key") { Description = $"Key clients must send (Authorization: Bearer KEY); repeatable; also read from {ApiKeyVariable}" };
        var apiKeyFile = new Option<string?>("--api-keys-file") { Description = "File of client keys, one per line ('#' comments)" };
        var backendKey = new Option<string?>("--backend-api-key") { Description = $"Key the router sends to the replicas (also read from {BackendApiKeyVariable})" };
        var insecure = new Option<bool>("--insecure") { Description = "Allow listening beyond this machine without an API key" };
        var metricsKey = new Option<bool>("--metrics-require-key") { Description = "Require an API key for GET /metrics too (it names the replicas' addresses)" };
        var interval = new Option<double>("--health-interval") { Description = "Seconds between checks of each replica's /ready and /metrics", DefaultValueFactory = _ => 2 };
        var maxWaiting = new Option<double>("--max-waiting") { Description = "A replica with this many requests queued counts as overloaded", DefaultValueFactory = _ => 8 };
        var maxKv = new Option<double>("--max-kv-usage") { Description = "A replica using this fraction of its KV cache counts as overloaded", DefaultValueFactory = _ => 0.9 };

        var cmd = new Command("router", "Route OpenAI requests across several `qwensharp serve` replicas by prompt prefix and load")
        {
            backends, backendDns, host, port, apiKeys, apiKeyFile, backendKey, insecure, metricsKey, interval, maxWaiting, maxKv,
        };
        cmd.SetAction(async (r, ct) =>
        {
            var options = new RouterOptions();
            foreach (var url in r.GetValue(backends) ?? [])
            {
                try { options.Backends.Add(new BackendOptions(url)); }
                catch (ArgumentException e) { throw new CliException($"--backend: {e.Message}", 2); }
            }
            foreach (var url in r.GetValue(backendDns) ?? [])
            {
                try { options.BackendDnsNames.Add(new BackendOptions(url)); }
                catch (ArgumentException e) { throw new CliException($"--backend-dns: {e.Message}", 2); }
            }
            if (options.Backends.Count == 0 && options.BackendDnsNames.Count == 0)
                throw new CliException("--backend: give at least one replica URL (or --backend-dns URL)", 2);
            foreach (var k in ReadKeys(r.GetValue(apiKeys), r.GetValue(apiKeyFile))) options.ApiKeys.Add(k);
            options.MetricsRequireKey = r.GetValue(metricsKey);
            options.BackendApiKey = r.GetValue(backendKey) ?? NonEmpty(Environment.GetEnvironmentVariable(BackendApiKeyVariable));
            double seconds = r.GetValue(interval);
            if (!(seconds > 0 && seconds <= 3600)) throw new CliException($"--health-interval: {seconds} is not between 0 and 3600 seconds", 2);
            options.HealthCheckInterval = TimeSpan.FromSeconds(seconds);
            double w = r.GetValue(maxWaiting), kv = r.GetValue(maxKv);
            if (!(w >= 0)) throw new CliException($"--max-waiting: {w} must be 0 or more", 2);
            if (!(kv > 0 && kv <= 1)) throw new CliException($"--max-kv-usage: {kv} must be above 0 and at most 1", 2);
            options.Overload.MaxWaiting = w;
            options.Overload.MaxKvCacheUsage = kv;

            Microsoft.AspNetCore.Builder.WebApplication app;
            try { app = RouterHost.Create(options, r.GetValue(host)!, r.GetValue(port), r.GetValue(insecure)); }
            catch (ArgumentException e) { throw new CliException(e.Message, 2); }
            await using (app)
            {
                try { await app.StartAsync(ct); }
                catch (IOException e) { throw new CliException($"cannot listen on {r.GetValue(host)}:{r.GetValue(port)}: {e.Message}", 1); }
                var output = r.InvocationConfiguration.Output;
                var targets = options.Backends.Select(b => b.Url.ToString()).Concat(options.BackendDnsNames.Select(b => $"{b.Url} (DNS)"));
                output.WriteLine($"router listening on {string.Join(", ", RouterHost.Addresses(app))} -> {string.Join(", ", targets)}");
                output.Flush();
                try { await app.WaitForShutdownAsync(ct); }
                catch (OperationCanceledException) { }
                await app.StopAsync(CancellationToken.None);
            }
            return 0;
        });
        return cmd;
    }

    static IEnumerable<string> ReadKeys(string[]? keys, string? file)
    {
        var all = new List<string>();
        foreach (var k in keys ?? [])
        {
            if (string.IsNullOrWhiteSpace(k) || k.Any(char.IsWhiteSpace)) throw new CliException("--api-key: a key must be one non-empty word", 2);
            all.Add(k);
        }
        if (file is not null)
        {
            if (!File.Exists(file)) throw new CliException($"--api-keys-file: {file} does not exist", 2);
            foreach (var line in File.ReadAllLines(file))
                if (NonEmpty(line) is string s && !s.StartsWith('#')) all.Add(s);
            if (all.Any(k => k.Any(char.IsWhiteSpace))) throw new CliException($"--api-keys-file: {file}: a key must be one word per line", 2);
            if (all.Count == 0) throw new CliException($"--api-keys-file: {file} holds no key", 2);
        }
        // The same variable `qwensharp serve` reads: keys separated by commas or whitespace.
        if (Environment.GetEnvironmentVariable(ApiKeyVariable) is { } env)
            all.AddRange(env.Split([',', ' ', '\t', '\n', '\r'], StringSplitOptions.RemoveEmptyEntries));
        return all;
    }

    static string? NonEmpty(string? s) => string.IsNullOrWhiteSpace(s) ? null : s.Trim();
}
