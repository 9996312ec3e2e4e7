// Shows: monitoring generation: tokens/s, time to first token and memory recorded as OpenTelemetry metrics
// (System.Diagnostics.Metrics + the OpenTelemetry SDK; an in-memory exporter here, OTLP or Prometheus in
// production), and a health check that reports Degraded when they cross thresholds.
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Text.Json.Nodes;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using QwenSharp.Generation;

namespace QwenSharp.Samples;

public static class Monitoring
{
    static readonly Meter Meter = new("QwenSharp.Samples.Monitoring");
    static readonly Histogram<double> TokensPerSecond = Meter.CreateHistogram<double>("qwen.generation.tokens_per_second");
    static readonly Histogram<double> TimeToFirstToken = Meter.CreateHistogram<double>("qwen.generation.time_to_first_token", "s");
    static readonly ObservableGauge<long> Memory = Meter.CreateObservableGauge("qwen.process.memory", () => Environment.WorkingSet, "By");

    public enum Health { Healthy, Degraded }

    /// <summary>Degraded when generation is slower or the first token later than the thresholds, or memory is above its limit.</summary>
    public static (Health Status, string Reason) Check(double tokensPerSecond, double ttftSeconds, long memoryBytes,
        double minTokensPerSecond = 2, double maxTtftSeconds = 5, long maxMemoryBytes = 8L << 30)
    {
        var reasons = new List<string>();
        if (tokensPerSecond < minTokensPerSecond) reasons.Add($"{tokensPerSecond:0.0} tokens/s < {minTokensPerSecond}");
        if (ttftSeconds > maxTtftSeconds) reasons.Add($"time to first token {ttftSeconds:0.00} s > {maxTtftSeconds} s");
        if (memoryBytes > maxMemoryBytes) reasons.Add($"memory {memoryBytes >> 20} MiB > {maxMemoryBytes >> 20} MiB");
        return reasons.Count == 0 ? (Health.Healthy, "within thresholds") : (Health.Degraded, string.Join("; ", reasons));
    }

    public static async Task<int> RunAsync(SampleArgs args)
    {
        var exported = new List<Metric>();
        using var meters = Sdk.CreateMeterProviderBuilder().AddMeter(Meter.Name).AddInMemoryExporter(exported).Build();
        using var qwen = await Qwen.LoadAsync(args.Model("Qwen/Qwen3-0.6B"));

        foreach (var prompt in new[] { "Hello!", "Explain recursion briefly." })
        {
            var sw = Stopwatch.StartNew();
            double ttft = 0;
            int tokens = 0;
            await foreach (var u in qwen.ChatStreamAsync(new JsonArray(ChatMessages.User(prompt)),
                               new GenerationOptions { EnableThinking = false, Sampling = new SamplingParams { MaxTokens = args.MaxTokens(64) } }))
            {
                if (u.TokenIds is { Count: > 0 } && tokens == 0) ttft = sw.Elapsed.TotalSeconds;
                tokens += u.TokenIds?.Count ?? 0;
            }
            double tps = tokens / Math.Max(sw.Elapsed.TotalSeconds - ttft, 1e-6);
            TokensPerSecond.Record(tps);
            TimeToFirstToken.Record(ttft);
            var (status, reason) = Check(tps, ttft, Environment.WorkingSet);
            Console.WriteLine($"'{prompt}': {tokens} tokens, {tps:0.0} tokens/s, first token after {ttft * 1000:0} ms, health {status} ({reason})");
        }
        meters.ForceFlush();
        foreach (var metric in exported.DistinctBy(m => m.Name)) Console.WriteLine($"exported metric: {metric.Name} ({metric.MetricType})");
        return 0;
    }
}
