using System.Diagnostics;
using LLama;
using LLama.Common;
using LLama.Native;
using QwenSharp.Engine;
using QwenSharp.Models;

namespace QwenSharp.Bench;

/// <summary>
/// Work per token, robust to a busy machine: both engines on one thread, timed in process CPU time
/// (preemption by other processes does not count), prefill and decode separately, medians of several runs.
/// </summary>
public sealed class CpuEfficiency : IBenchmark
{
    public string Name => "cpu-efficiency";
    public string Description => "CPU ms per token, QwenSharp vs llama.cpp, one thread: --model FILE.gguf [--prompt 128] [--gen 32] [--runs 3]";

    static double Cpu() => Process.GetCurrentProcess().TotalProcessorTime.TotalMilliseconds;

    public int Run(string[] args)
    {
        var a = new BenchArgs(args);
        string model = a.Get("model") ?? throw new ArgumentException("--model FILE.gguf is required");
        int prompt = a.GetInt("prompt", 128), gen = a.GetInt("gen", 32), runs = a.GetInt("runs", 3);
        var rng = new Random(1234);
        var tokens = new int[prompt];
        for (int i = 0; i < prompt; i++) tokens[i] = rng.Next(100000);

        var ours = new List<(double, double)>();
        var theirs = new List<(double, double)>();
        using (var pool = new WorkerPool(1))
        using (var m = QwenModel.Load(model))
        using (var cache = m.CreateKvCache(prompt + gen + 1, KvCacheType.F16))
        using (var ctx = m.CreateContext(pool))
        {
            var batch = new ForwardBatch();
            var logits = new float[m.Config.VocabSize];
            for (int r = 0; r <= runs; r++)
            {
                using var seq = cache.CreateSequence();
                batch.Clear();
                batch.AddSequence(seq, tokens);
                double c0 = Cpu();
                m.Forward(ctx, batch, logits);
                double c1 = Cpu();
                for (int i = 0; i < gen; i++)
                {
                    batch.Clear();
                    batch.Add(seq, ArgMax(logits), seq.Length, true);
                    m.Forward(ctx, batch, logits);
                }
                double c2 = Cpu();
                if (r > 0) ours.Add(((c1 - c0) / prompt, (c2 - c1) / gen));
            }
            if (a.Has("profile")) Profile(m, pool, prompt);
        }
        NativeLibraryConfig.All.WithLogCallback((level, message) => { });
        var p = new ModelParams(model) { ContextSize = (uint)(prompt + gen + 16), BatchSize = 512, UBatchSize = 512, Threads = 1, BatchThreads = 1, GpuLayerCount = 0 };
        using (var weights = LLamaWeights.LoadFromFile(p))
        using (var ctx = weights.CreateContext(p))
        {
            var batch = new LLamaBatch();
            for (int r = 0; r <= runs; r++)
            {
                ctx.NativeHandle.MemoryClear(true);
                batch.Clear();
                for (int i = 0; i < prompt; i++) batch.Add(tokens[i], i, LLamaSeqId.Zero, i == prompt - 1);
                double c0 = Cpu();
                ctx.NativeHandle.Decode(batch);
                double c1 = Cpu();
                int pos = prompt;
                for (int i = 0; i < gen; i++)
                {
                    var l = ctx.NativeHandle.GetLogitsIth(batch.TokenCount - 1);
                    int best = 0;
                    for (int j = 1; j < l.Length; j++) if (l[j] > l[best]) best = j;
                    batch.Clear();
                    batch.Add(best, pos++, LLamaSeqId.Zero, true);
                    ctx.NativeHandle.Decode(batch);
                }
                double c2 = Cpu();
                if (r > 0) theirs.Add(((c1 - c0) / prompt, (c2 - c1) / gen));
            }
        }
        double Med(IEnumerable<double> v) { var s = v.Order().ToArray(); return s[s.Length / 2]; }
        double op = Med(ours.Select(x => x.Item1)), od = Med(ours.Select(x => x.Item2));
        double lp = Med(theirs.Select(x => x.Item1)), ld = Med(theirs.Select(x => x.Item2));
        Console.WriteLine($"model {Path.GetFileName(model)}, 1 thread, prompt {prompt}, gen {gen}, {runs} runs, process CPU time, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC");
        Console.WriteLine("| engine | prefill CPU ms/token | decode CPU ms/token |");
        Console.WriteLine("| --- | --- | --- |");
        Console.WriteLine($"| llama.cpp | {lp:F2} | {ld:F2} |");
        Console.WriteLine($"| QwenSharp | {op:F2} | {od:F2} |");
        Console.WriteLine($"| llama.cpp / QwenSharp | {lp / op:F2}x | {ld / od:F2}x |");
        return 0;
    }

    /// <summary>CPU ms of each matrix of layer 0 (scaled by the layer count) for a prompt-sized batch and for one token.</summary>
    static unsafe void Profile(QwenModel m, WorkerPool pool, int n)
    {
        using var mm = new QwenSharp.Tensors.MatMul(pool);
        var l0 = m.Layers[0];
        var d = (DenseMlp)l0.Mlp;
        var mats = new (string, QwenSharp.Tensors.Matrix)[]
        {
            ("q_proj", l0.SelfAttn.QProj.Weight), ("k_proj", l0.SelfAttn.KProj.Weight), ("v_proj", l0.SelfAttn.VProj.Weight),
            ("o_proj", l0.SelfAttn.OProj.Weight), ("gate_proj", d.GateProj.Weight), ("up_proj", d.UpProj.Weight), ("down_proj", d.DownProj.Weight),
        };
        int maxCols = mats.Max(x => x.Item2.Cols), maxRows = mats.Max(x => x.Item2.Rows);
        var x = new float[(long)n * maxCols];
        var y = new float[(long)n * maxRows];
        for (int i = 0; i < x.Length; i++) x[i] = (float)Math.Sin(i * 0.1);
        Console.WriteLine($"| kernel (1 thread, CPU time) | type | shape | batch {n}: CPU ms (all layers) | GOP/s | 1 token: CPU µs (all layers) |");
        Console.WriteLine("| --- | --- | --- | --- | --- | --- |");
        double tb = 0, t1 = 0;
        fixed (float* xp = x) fixed (float* yp = y)
            foreach (var (name, w) in mats)
            {
                mm.Run(w, xp, w.Cols, n, yp, w.Rows);
                double c0 = Cpu();
                for (int k = 0; k < 3; k++) mm.Run(w, xp, w.Cols, n, yp, w.Rows);
                double batchMs = (Cpu() - c0) / 3;
                int reps = 50;
                double c1 = Cpu();
                for (int k = 0; k < reps; k++) mm.Run(w, xp, w.Cols, 1, yp, w.Rows);
                double oneUs = (Cpu() - c1) / reps * 1000;
                tb += batchMs * m.Layers.Count; t1 += oneUs * m.Layers.Count;
                Console.WriteLine($"| {name} | {w.Type} | {w.Rows}x{w.Cols} | {batchMs * m.Layers.Count:F1} | {2.0 * w.Rows * w.Cols * n / (batchMs / 1000) / 1e9:F1} | {oneUs * m.Layers.Count:F0} |");
            }
        Console.WriteLine($"layer matmuls: batch {n}: {tb:F1} CPU ms ({tb / n:F2} ms/token); one token (weights hot in cache): {t1 / 1000:F2} CPU ms");
    }

    static int ArgMax(float[] v)
    {
        int best = 0;
        for (int j = 1; j < v.Length; j++) if (v[j] > v[best]) best = j;
        return best;
    }
}
