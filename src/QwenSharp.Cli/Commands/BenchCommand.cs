using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using QwenSharp.Engine;
using QwenSharp.Models;

namespace QwenSharp.Cli.Commands;

/// <summary>
/// `qwensharp bench --model PATH [--prompt 512] [--gen 128] [--threads N] [--runs 3] [--json] [--profile]`: load time,
/// prefill and decode speed, time to first token and peak resident memory; medians of several runs after a
/// warm-up. Random token ids (seeded), greedy decoding, F16 KV cache unless --kv-type says otherwise.
/// </summary>
public static class BenchCommand
{
    public static Command Create()
    {
        var model = CliOptions.Model();
        var prompt = new Option<int>("--prompt") { Description = "Prompt tokens (prefill)", DefaultValueFactory = _ => 512 };
        var gen = new Option<int>("--gen") { Description = "Generated tokens (decode)", DefaultValueFactory = _ => 128 };
        var runs = new Option<int>("--runs") { Description = "Measured runs (the median is reported)", DefaultValueFactory = _ => 3 };
        var threads = CliOptions.Threads();
        var quantize = CliOptions.Quantize();
        var kvType = new Option<string>("--kv-type") { Description = "KV cache type: f16 (default), f32 or q8_0", DefaultValueFactory = _ => "f16" };
        var ubatch = new Option<int>("--ubatch") { Description = "Tokens per pass through the layers; longer prompts run in micro-batches of this size", DefaultValueFactory = _ => ForwardContext.DefaultMicroBatchTokens };
        var json = new Option<bool>("--json") { Description = "Print one JSON object" };
        var profile = new Option<bool>("--profile") { Description = "Also print where a decode step's time goes, by part (attention, projections, feed-forward, LM head, ...)" };
        var cmd = new Command("bench", "Measure load time, prefill and decode speed, time to first token and peak memory")
            { model, prompt, gen, runs, threads, quantize, kvType, ubatch, json, profile };
        cmd.SetAction(r =>
        {
            int p = r.GetValue(prompt), g = r.GetValue(gen), n = r.GetValue(runs);
            if (p < 1) throw new CliException($"--prompt: {p} must be at least 1", 2);
            if (g < 1) throw new CliException($"--gen: {g} must be at least 1", 2);
            if (n < 1) throw new CliException($"--runs: {n} must be at least 1", 2);
            int ub = r.GetValue(ubatch);
            if (ub < 1) throw new CliException($"--ubatch: {ub} must be at least 1", 2);
            var kv = ParseKvType(r.GetValue(kvType)!);
            var options = CliOptions.LoadOptions(r.GetValue(quantize));
            var path = ModelResolver.Resolve(r.GetValue(model)!);
            using var pool = ModelResolver.CreatePool(r.GetValue(threads));
            var sw = Stopwatch.StartNew();
            using var m = ModelResolver.LoadModel(path, options);
            double load = sw.Elapsed.TotalSeconds;
            var res = ModelBenchmark.Measure(m, pool, p, g, n, kv, load, ub, r.GetValue(profile));
            var o = r.InvocationConfiguration.Output;
            if (r.GetValue(json)) o.WriteLine(res.ToJson());
            else o.Write(res.ToText(path, p, g));
            return 0;
        });
        return cmd;
    }

    public static KvCacheType ParseKvType(string s) => s.ToLowerInvariant() switch
    {
        "f32" => KvCacheType.F32,
        "f16" => KvCacheType.F16,
        "q8_0" => KvCacheType.Q8_0,
        _ => throw new CliException($"--kv-type: '{s}' is not a KV cache type (f16, f32, q8_0)", 2),
    };
}
