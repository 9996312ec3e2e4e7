using System.Diagnostics;
using System.Text.Json;
using QwenSharp.Models;

namespace QwenSharp.Engine;

/// <summary>
/// What `qwensharp bench` measures, as a library call (also used by the bench harness and the NativeAOT bench):
/// load time, prefill and decode speed, time to first token, peak resident memory; medians of several runs after
/// a warm-up. Random token ids (seeded), greedy decoding.
/// </summary>
public static class ModelBenchmark
{
    public sealed record Result(double LoadSeconds, double PrefillTokensPerSecond, double DecodeTokensPerSecond, double TimeToFirstTokenSeconds, long PeakRssBytes, int Threads)
    {
        /// <summary>Where the memory went at the end of the measured runs (text for the report; not part of the JSON).</summary>
        public string MemoryBreakdown { get; init; } = "";

        /// <summary>Where the decode steps' time went, over all measured runs (only when asked for).</summary>
        public ForwardProfile? DecodeProfile { get; init; }

        /// <summary>The report `qwensharp bench` prints without --json (one "name  value" line each).</summary>
        public string ToText(string modelPath, int promptTokens, int genTokens) =>
            $"model        {modelPath}\n"
            + $"threads      {Threads}\n"
            + $"kernels      {Tensors.KernelPaths.Name(Tensors.KernelPaths.Resolve())} (quantized matmuls)\n"
            + $"load         {LoadSeconds:F2} s\n"
            + $"prefill      {PrefillTokensPerSecond:F1} tok/s ({promptTokens} tokens)\n"
            + $"decode       {DecodeTokensPerSecond:F1} tok/s ({genTokens} tokens)\n"
            + $"ttft         {TimeToFirstTokenSeconds * 1000:F0} ms\n"
            + $"peak rss     {PeakRssBytes / 1048576.0:F0} MiB ({RssBreakdown()})\n"
            + $"memory       {MemoryBreakdown} (model files {ModelBytes(modelPath) / 1048576.0:F0} MiB)\n"
            + (DecodeProfile is { } p ? $"\ndecode step, by part:\n{p.ToText()}" : "");

        /// <summary>The JSON object `qwensharp bench --json` prints (written by hand: no reflection, NativeAOT-safe).</summary>
        public string ToJson()
        {
            using var ms = new MemoryStream();
            using (var w = new Utf8JsonWriter(ms))
            {
                w.WriteStartObject();
                w.WriteNumber("load_s", Math.Round(LoadSeconds, 4));
                w.WriteNumber("prefill_tok_s", Math.Round(PrefillTokensPerSecond, 2));
                w.WriteNumber("decode_tok_s", Math.Round(DecodeTokensPerSecond, 2));
                w.WriteNumber("ttft_s", Math.Round(TimeToFirstTokenSeconds, 4));
                w.WriteNumber("peak_rss_bytes", PeakRssBytes);
                w.WriteNumber("threads", Threads);
                if (DecodeProfile is { } p)
                {
                    // Milliseconds per decode step, by part (only with --profile).
                    w.WriteStartObject("decode_profile_ms");
                    foreach (var part in Enum.GetValues<ForwardProfile.Part>())
                        w.WriteNumber(ForwardProfile.Name(part), Math.Round(p.MillisecondsPerPass(part), 4));
                    w.WriteEndObject();
                }
                w.WriteEndObject();
            }
            return System.Text.Encoding.UTF8.GetString(ms.ToArray());
        }
    }

    /// <summary>Runs a warm-up and <paramref name="runs"/> measured prefill+decode runs; medians. With
    /// <paramref name="profile"/>, each part of the measured decode steps is timed too (<see cref="Result.DecodeProfile"/>).</summary>
    public static Result Measure(QwenModel m, WorkerPool pool, int promptTokens, int genTokens, int runs, KvCacheType kv, double loadSeconds,
        int microBatchTokens = ForwardContext.DefaultMicroBatchTokens, bool profile = false)
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

        var decodeProfile = profile ? new ForwardProfile() : null;
        (double Prefill, double Decode) RunOnce(int p, int g, bool measured)
        {
            using var seq = cache.CreateSequence();
            batch.Clear();
            batch.AddSequence(seq, prompt.AsSpan(0, p));
            long t0 = Stopwatch.GetTimestamp();
            m.Forward(ctx, batch, logits);
            double prefill = Stopwatch.GetElapsedTime(t0).TotalSeconds;
            if (measured) ctx.Profile = decodeProfile;
            long t1 = Stopwatch.GetTimestamp();
            for (int i = 0; i < g; i++)
            {
                int next = ArgMax(logits);
                batch.Clear();
                batch.Add(seq, next, seq.Length, wantLogits: true);
                m.Forward(ctx, batch, logits);
            }
            double decode = Stopwatch.GetElapsedTime(t1).TotalSeconds;
            ctx.Profile = null;
            return (prefill, decode);
        }

        RunOnce(Math.Min(promptTokens, 64), Math.Min(genTokens, 8), measured: false); // warm-up (JIT, page faults, scratch)
        var pre = new double[runs];
        var dec = new double[runs];
        for (int i = 0; i < runs; i++) (pre[i], dec[i]) = RunOnce(promptTokens, genTokens, measured: true);
        double prefillMedian = Median(pre), decodeMedian = Median(dec);
        var gc = GC.GetGCMemoryInfo();
        string breakdown = $"weights {Tensors.MemoryUse.WeightBytes / 1048576.0:F0} MiB, scratch {Tensors.MemoryUse.ScratchBytes / 1048576.0:F0} MiB, "
            + $"KV cache {cache.ByteSize / 1048576.0:F1} MiB, GC heap {gc.HeapSizeBytes / 1048576.0:F0} MiB (committed {gc.TotalCommittedBytes / 1048576.0:F0} MiB)";
        return new Result(loadSeconds, promptTokens / prefillMedian, genTokens / decodeMedian, prefillMedian, PeakRss(), pool.ThreadCount) { MemoryBreakdown = breakdown, DecodeProfile = decodeProfile };
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
    public static long ModelBytes(string path) => Directory.Exists(path)
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
    public static long StatusKilobytes(string line) =>
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
