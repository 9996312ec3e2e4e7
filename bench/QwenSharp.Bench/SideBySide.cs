using System.Diagnostics;
using QwenSharp.Cli.Commands;
using QwenSharp.Engine;
using QwenSharp.Models;
using QwenSharp.Tensors;

namespace QwenSharp.Bench;

/// <summary>
/// One run, one machine, one GGUF: llama.cpp and QwenSharp with the same threads, prompt and generation
/// lengths, alternating rounds (the machine is shared and noisy; medians), plus the read bandwidth measured
/// before every round of the same run and the decode bandwidth bound (weight bytes read per token ÷ the median bandwidth).
/// </summary>
public sealed class SideBySide : IBenchmark
{
    public string Name => "side-by-side";
    public string Description => "QwenSharp vs llama.cpp on one GGUF: --model FILE.gguf [--threads 2] [--prompt 512] [--gen 128] [--runs 3] [--rounds 2] [--profile] [--llama-repack false] [--llama-mmap] [--only qwensharp|llama.cpp]";

    public int Run(string[] args)
    {
        var a = new BenchArgs(args);
        string model = a.Get("model") ?? throw new ArgumentException("--model FILE.gguf is required");
        int threads = a.GetInt("threads", 2), prompt = a.GetInt("prompt", 512), gen = a.GetInt("gen", 128);
        int runs = a.GetInt("runs", 3), rounds = a.GetInt("rounds", 2), quietWait = a.GetInt("quiet-wait", 60);
        bool repack = a.Get("llama-repack", "true") != "false", llamaMmap = a.Has("llama-mmap");
        string only = a.Get("only", "both");
        bool runOurs = only is "both" or "qwensharp", runTheirs = only is "both" or "llama.cpp";
        if (!runOurs && !runTheirs) throw new ArgumentException("--only takes qwensharp or llama.cpp");
        using var pool = new WorkerPool(threads);
        // The machine's bandwidth moves while the benchmark runs (other tenants of the host): it is measured before
        // every round of either engine, and the bound uses the median of all those measurements.
        // Each probe allocates its 512 MiB buffer and frees it again, so the engines' memory figures do not include it.
        double Bandwidth()
        {
            using var probe = new BandwidthProbe(threads: threads);
            return probe.Measure(pool);
        }
        var bws = new List<double> { Bandwidth() };

        var ours = new List<ModelBenchmark.Result>();
        var theirs = new List<LlamaCppRunner.Result>();
        long weightBytes;
        int vocab;
        using (var probeModel = QwenModel.Load(model)) (weightBytes, vocab) = (BytesPerToken(probeModel), probeModel.Config.VocabSize);
        var busy = new List<string>();
        for (int r = 0; r < rounds; r++)
        {
            if (runOurs)
            {
                double before = Quiet.WaitForQuiet(maxWaitSeconds: quietWait);
                if (r > 0) bws.Add(Bandwidth());
                var win = Quiet.Start();
                var sw = Stopwatch.StartNew();
                using var m = QwenModel.Load(model);
                double load = sw.Elapsed.TotalSeconds;
                long alloc0 = GC.GetTotalAllocatedBytes(true);
                ours.Add(ModelBenchmark.Measure(m, pool, prompt, gen, runs, KvCacheType.F16, load, profile: a.Has("profile") && r == 0));
                Console.WriteLine($"round {r + 1} QwenSharp: load {ours[^1].LoadSeconds:F2} s, prefill {ours[^1].PrefillTokensPerSecond:F2} tok/s, decode {ours[^1].DecodeTokensPerSecond:F2} tok/s ({DateTime.UtcNow:HH:mm:ss} UTC)");
                long alloc = GC.GetTotalAllocatedBytes(true) - alloc0;
                busy.Add($"round {r + 1}: QwenSharp other-process load {win.OtherCores():F2} cores (before {before:F2}), managed allocation during all runs {alloc / 1024.0:F0} KiB; memory {ProcessMemory.Breakdown()}");
                if (a.Has("profile") && r == 0)
                {
                    Console.Write($"QwenSharp decode step, by part (round 1):\n{ours[^1].DecodeProfile!.ToText()}");
                    Profile(m, pool);
                }
            }
            GC.Collect();
            if (runTheirs)
            {
                double before = Quiet.WaitForQuiet(maxWaitSeconds: quietWait);
                bws.Add(Bandwidth());
                var win = Quiet.Start();
                theirs.Add(LlamaCppRunner.Run(model, threads, prompt, gen, runs, vocab, repack, llamaMmap));
                Console.WriteLine($"round {r + 1} llama.cpp: load {theirs[^1].LoadSeconds:F2} s, prefill {theirs[^1].PrefillTokensPerSecond:F2} tok/s, decode {theirs[^1].DecodeTokensPerSecond:F2} tok/s ({DateTime.UtcNow:HH:mm:ss} UTC)");
                busy.Add($"round {r + 1}: llama.cpp (repack {(repack ? "on" : "off")}) other-process load {win.OtherCores():F2} cores (before {before:F2}); memory {theirs[^1].Memory}");
            }
        }
        double Med(IEnumerable<double> v) { var s = v.Order().ToArray(); return s.Length == 0 ? double.NaN : s[s.Length / 2]; }
        double oPre = Med(ours.Select(o => o.PrefillTokensPerSecond)), oDec = Med(ours.Select(o => o.DecodeTokensPerSecond));
        double lPre = Med(theirs.Select(o => o.PrefillTokensPerSecond)), lDec = Med(theirs.Select(o => o.DecodeTokensPerSecond));
        double oLoad = Med(ours.Select(o => o.LoadSeconds)), lLoad = Med(theirs.Select(o => o.LoadSeconds));
        bws.Add(Bandwidth());
        double bw = Med(bws);
        double bound = bw / weightBytes;
        Console.WriteLine($"model {Path.GetFileName(model)}, {threads} threads, prompt {prompt}, gen {gen}, {rounds}x{runs} runs, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC");
        Console.WriteLine($"read bandwidth {bw / 1e9:F1} GB/s (median of {bws.Count} probes around the rounds: {string.Join(", ", bws.Select(b => (b / 1e9).ToString("F1")))}); weights read per token {weightBytes / 1e6:F0} MB; decode bound {bound:F1} tok/s");
        Console.WriteLine($"| engine | load s | prefill tok/s | decode tok/s | decode / bound |");
        Console.WriteLine($"| --- | --- | --- | --- | --- |");
        Console.WriteLine($"| llama.cpp | {lLoad:F2} | {lPre:F1} | {lDec:F1} | {lDec / bound:P0} |");
        Console.WriteLine($"| QwenSharp | {oLoad:F2} | {oPre:F1} | {oDec:F1} | {oDec / bound:P0} |");
        Console.WriteLine($"| ratio | | {oPre / lPre:F2}x | {oDec / lDec:F2}x | |");
        foreach (var b in busy) Console.WriteLine(b);
        Console.WriteLine($"peak rss (QwenSharp process, both engines): {ModelBenchmark.PeakRss() / 1048576.0:F0} MiB; file {new FileInfo(model).Length / 1048576.0:F0} MiB");
        return 0;
    }

    /// <summary>
    /// Weight bytes one decode step reads: the token's embedding row, every layer's attention matrices and
    /// feed-forward weights, and the LM head. For a mixture of experts only the active part counts: the router
    /// (f32), the shared expert and its gate, and top-k experts (all experts of a layer have the same size);
    /// the other experts are never read for this token. Norm vectors (a few KB) are left out.
    /// </summary>
    public static long BytesPerToken(QwenModel m)
    {
        long b = m.LmHead.ByteSize + m.EmbedTokens.ByteSize / m.EmbedTokens.Rows;
        foreach (var l in m.Layers)
        {
            var at = l.SelfAttn;
            b += at.QProj.Weight.ByteSize + at.KProj.Weight.ByteSize + at.VProj.Weight.ByteSize + at.OProj.Weight.ByteSize;
            switch (l.Mlp)
            {
                case DenseMlp d:
                    b += MlpBytes(d);
                    break;
                case SparseMoeMlp moe:
                    b += moe.Router.Length * 4L + moe.TopK * MlpBytes(moe.Experts[0]);
                    if (moe.SharedExpert is { } s) b += MlpBytes(s) + (moe.SharedExpertGate?.Length ?? 0) * 4L;
                    break;
            }
        }
        return b;
    }

    static long MlpBytes(DenseMlp d) => d.GateProj.Weight.ByteSize + d.UpProj.Weight.ByteSize + d.DownProj.Weight.ByteSize;

    /// <summary>Per-kernel decode profile: each matrix of layer 0 and the LM head timed alone (n = 1), scaled by layer count.</summary>
    static unsafe void Profile(QwenModel m, WorkerPool pool)
    {
        using var mm = new MatMul(pool);
        var x = new float[Math.Max(m.Config.IntermediateSize, m.Config.NumAttentionHeads * m.Config.HeadDim) * 4];
        var y = new float[(long)m.Config.VocabSize * 64];
        var xb = new float[64 * Math.Max(m.Config.IntermediateSize, m.Config.HiddenSize * 2)];
        for (int i = 0; i < xb.Length; i++) xb[i] = (float)Math.Cos(i * 0.37);
        new Random(1).NextBytes(new byte[1]);
        for (int i = 0; i < x.Length; i++) x[i] = (float)Math.Sin(i);
        var l0 = m.Layers[0];
        // Dense: the layer's MLP once per layer; MoE: expert 0 of layer 0 stands for the top-k experts a token uses.
        var (d, perLayer, mlpName) = l0.Mlp switch
        {
            DenseMlp dense => (dense, 1, ""),
            SparseMoeMlp moe => (moe.Experts[0], moe.TopK, "expert "),
            _ => throw new NotSupportedException(l0.Mlp.GetType().Name),
        };
        var mats = new (string, Matrix, int)[]
        {
            ("q_proj", l0.SelfAttn.QProj.Weight, m.Layers.Count), ("k_proj", l0.SelfAttn.KProj.Weight, m.Layers.Count),
            ("v_proj", l0.SelfAttn.VProj.Weight, m.Layers.Count), ("o_proj", l0.SelfAttn.OProj.Weight, m.Layers.Count),
            (mlpName + "gate_proj", d.GateProj.Weight, m.Layers.Count * perLayer), (mlpName + "up_proj", d.UpProj.Weight, m.Layers.Count * perLayer),
            (mlpName + "down_proj", d.DownProj.Weight, m.Layers.Count * perLayer), ("lm_head", m.LmHead, 1),
        };
        Console.WriteLine("| kernel | type | shape | decode µs/call (n=1) | calls/token | decode ms/token | decode GB/s | prefill GOP/s (n=64) |");
        Console.WriteLine("| --- | --- | --- | --- | --- | --- | --- | --- |");
        double total = 0;
        fixed (float* xp = x) fixed (float* yp = y) fixed (float* xbp = xb)
            foreach (var (name, w, calls) in mats)
            {
                int reps = Math.Max(3, (int)(2e8 / w.ByteSize));
                for (int i = 0; i < 2; i++) mm.Run(w, xp, w.Cols, 1, yp, w.Rows);
                var t = new double[5];
                for (int k = 0; k < t.Length; k++)
                {
                    long t0 = Stopwatch.GetTimestamp();
                    for (int i = 0; i < reps; i++) mm.Run(w, xp, w.Cols, 1, yp, w.Rows);
                    t[k] = Stopwatch.GetElapsedTime(t0).TotalSeconds / reps;
                }
                Array.Sort(t);
                double us = t[2] * 1e6;
                total += us * calls / 1000;
                double gops = 0;
                if (name != "lm_head")
                {
                    mm.Run(w, xbp, w.Cols, 64, yp, w.Rows);
                    var tb = new double[3];
                    for (int k = 0; k < tb.Length; k++)
                    {
                        long t0 = Stopwatch.GetTimestamp();
                        mm.Run(w, xbp, w.Cols, 64, yp, w.Rows);
                        tb[k] = Stopwatch.GetElapsedTime(t0).TotalSeconds;
                    }
                    Array.Sort(tb);
                    gops = 2.0 * w.Rows * w.Cols * 64 / tb[1] / 1e9;
                }
                Console.WriteLine($"| {name} | {w.Type} | {w.Rows}x{w.Cols} | {us:F1} | {calls} | {us * calls / 1000:F2} | {w.ByteSize / t[2] / 1e9:F1} | {(gops > 0 ? gops.ToString("F1") : "")} |");
            }
        Console.WriteLine($"matmuls alone: {total:F2} ms/token (hot in cache for small matrices: an upper bound on speed)");
    }
}
