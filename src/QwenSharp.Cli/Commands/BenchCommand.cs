using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using QwenSharp.Engine;
using QwenSharp.Models;

namespace QwenSharp.Cli.Commands;

/// <summary>
/// `qwensharp bench --model PATH [--prompt 512] [--gen 128] [--threads N] [--runs 3] [--json]`: load time,
/// prefill and decode speed, time to first token and peak resident memory; medians of several runs after a
/// warm-up. Random token ids (seeded), greedy decoding, F16 KV cache unless --kv-type says otherwise.
/// </summary>
public static class BenchCommand
{
    public sealed record Result(double LoadSeconds, double PrefillTokensPerSecond, double DecodeTokensPerSecond, double TimeToFirstTokenSeconds, long PeakRssBytes, int Threads)
    {
        /// <summary>Where the memory went at the end of the measured runs (text for the report; not part of the JSON).</summary>
        public string MemoryBreakdown { get; init; } = "";

        public string ToJson() => JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["load_s"] = Math.Round(LoadSeconds, 4),
            ["prefill_tok_s"] = Math.Round(PrefillTokensPerSecond, 2),
            ["decode_tok_s"] = Math.Round(DecodeTokensPerSecond, 2),
            ["ttft_s"] = Math.Round(TimeToFirstTokenSeconds, 4),
            ["peak_rss_bytes"] = PeakRssBytes,
            ["threads"] = Threads,
        });
    }

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
        var cmd = new Command("bench", "Measure load time, prefill and decode speed, time to first token and peak memory")
            { model, prompt, gen, runs, threads, quantize, kvType, ubatch, json };
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
            var res = Measure(m, pool, p, g, n, kv, load, ub);
            var o = r.InvocationConfiguration.Output;
            if (r.GetValue(json)) o.WriteLine(res.ToJson());
            else
            {
                o.WriteLine($"model        {path}");
                o.WriteLine($"threads      {res.Threads}");
                o.WriteLine($"load         {res.LoadSeconds:F2} s");
                o.WriteLine($"prefill      {res.PrefillTokensPerSecond:F1} tok/s ({p} tokens)");
                o.WriteLine($"decode       {res.DecodeTokensPerSecond:F1} tok/s ({g} tokens)");
                o.WriteLine($"ttft         {res.TimeToFirstTokenSeconds * 1000:F0} ms");
                o.WriteLine($"peak rss     {res.PeakRssBytes / 1048576.0:F0} MiB ({RssBreakdown()})");
                o.WriteLine($"memory       {res.MemoryBreakdown} (model files {ModelBytes(path) / 1048576.0:F0} MiB)");
            }
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

    /// <summary>Runs a warm-up and <paramref name="runs"/> measured prefill+decode runs; medians.</summary>
    public static Result Measure(QwenModel m, WorkerPool pool, int promptTokens, int genTokens, int runs, KvCacheType kv, double loadSeconds,
        int microBatchTokens = ForwardContext.DefaultMicroBatchTokens)
    {
        int vocab = m.Config.VocabSize;
        var rng = new Random(1234);
        var prompt = new int[promptTokens];
        for (int i = 0; i < prompt.Length; i++) prompt[i] = rng.Next(Math.Min(vocab, 100000));
        using var cache = m.CreateKvCache(promptTokens + genTokens + 1, kv);
        using var ctx = m.CreateContext(pool);
        ctx.MicroBatchTokens = microBatchTokens;
        var logits = new float[vocab];
        var batch = new ForwardBatch();

        (double Prefill, double Decode) RunOnce(int p, int g)
        {
            using var seq = cache.CreateSequence();
            batch.Clear();
            batch.AddSequence(seq, prompt.AsSpan(0, p));
            long t0 = Stopwatch.GetTimestamp();
            m.Forward(ctx, batch, logits);
            double prefill = Stopwatch.GetElapsedTime(t0).TotalSeconds;
            long t1 = Stopwatch.GetTimestamp();
            for (int i = 0; i < g; i++)
            {
                int next = ArgMax(logits);
                batch.Clear();
                batch.Add(seq, next, seq.Length, wantLogits: true);
                m.Forward(ctx, batch, logits);
            }
            double decode = Stopwatch.GetElapsedTime(t1).TotalSeconds;
            return (prefill, decode);
        }

        RunOnce(Math.Min(promptTokens, 64), Math.Min(genTokens, 8)); // warm-up (JIT, page faults, scratch)
        var pre = new double[runs];
        var dec = new double[runs];
        for (int i = 0; i < runs; i++) (pre[i], dec[i]) = RunOnce(promptTokens, genTokens);
        double prefillMedian = Median(pre), decodeMedian = Median(dec);
        var gc = GC.GetGCMemoryInfo();
        string breakdown = $"weights {Tensors.MemoryUse.WeightBytes / 1048576.0:F0} MiB, scratch {Tensors.MemoryUse.ScratchBytes / 1048576.0:F0} MiB, "
            + $"KV cache {cache.ByteSize / 1048576.0:F1} MiB, GC heap {gc.HeapSizeBytes / 1048576.0:F0} MiB (committed {gc.TotalCommittedBytes / 1048576.0:F0} MiB)";
        return new Result(loadSeconds, promptTokens / prefillMedian, genTokens / decodeMedian, prefillMedian, PeakRss(), pool.ThreadCount) { MemoryBreakdown = breakdown };
    }

    static int ArgMax(float[] v)
    {
        int best = 0;
        for (int j = 1; j < v.Length; j++) if (v[j] > v[best]) best = j;
        return best;
    }

    static double Median(double[] v)
    {
        var s = v.Order().ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }

    /// <summary>Size of a model file, or of the weight files in a model folder.</summary>
    static long ModelBytes(string path) => Directory.Exists(path)
        ? new DirectoryInfo(path).EnumerateFiles().Where(f => f.Extension is ".safetensors" or ".gguf").Sum(f => f.Length)
        : new FileInfo(path).Length;

    /// <summary>Current anonymous / file-backed resident memory (Linux), for the report.</summary>
    public static string RssBreakdown()
    {
        try
        {
            if (!OperatingSystem.IsLinux()) return "";
            var parts = File.ReadLines("/proc/self/status").Where(l => l.StartsWith("RssAnon:") || l.StartsWith("RssFile:"))
                .Select(l => $"{l[..l.IndexOf(':')]} {StatusKilobytes(l) / 1024} MiB");
            return "now: " + string.Join(", ", parts);
        }
        catch (IOException) { return ""; }
    }

    /// <summary>
    /// The number of a /proc/self/status line such as "VmHWM:\t  830124 kB". The kernel pads the number to
    /// 8 characters after the tab, so from 10^7 kB (9.5 GiB) on there is no space between tab and number.
    /// </summary>
    internal static long StatusKilobytes(string line) =>
        long.Parse(line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries)[1]);

    /// <summary>Peak resident set size (VmHWM on Linux).</summary>
    public static long PeakRss()
    {
        try
        {
            if (OperatingSystem.IsLinux())
                foreach (var line in File.ReadLines("/proc/self/status"))
                    if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                        return StatusKilobytes(line) * 1024;
        }
        catch (IOException) { }
        return Process.GetCurrentProcess().PeakWorkingSet64;
    }
}
