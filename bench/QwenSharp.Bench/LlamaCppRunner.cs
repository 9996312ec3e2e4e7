using System.Diagnostics;
using LLama;
using LLama.Common;
using LLama.Extensions;
using LLama.Native;

namespace QwenSharp.Bench;

/// <summary>
/// llama.cpp (through LLamaSharp, CPU backend) on the same GGUF with the same thread count: load time,
/// prefill of the whole prompt in one batch (logits for the last token only) and greedy decode of one
/// token per llama_decode; medians of several runs after a warm-up, as our bench measures.
/// </summary>
public static class LlamaCppRunner
{
    /// <param name="Memory">RssAnon / RssFile of the process after the runs (llama.cpp's model still loaded).</param>
    public sealed record Result(double LoadSeconds, double PrefillTokensPerSecond, double DecodeTokensPerSecond, string Memory = "");

    static bool _quiet, _loadModeShown;

    /// <param name="repack">llama.cpp's default (use_extra_bufts): weights it can repack (Q4_K, Q6_K, Q8_0 on AVX2 among
    /// them) are copied out of the memory map into its own buffers in an interleaved layout. With false, every
    /// weight is used from llama.cpp's CPU buffers without repacking.</param>
    /// <param name="mmap">Map the file (use_mmap) instead of LLamaSharp's default load_mode (None: read into buffers).</param>
    public static Result Run(string gguf, int threads, int promptTokens, int genTokens, int runs, int vocabLimit, bool repack = true, bool mmap = false)
    {
        if (!_quiet)
        {
            NativeLibraryConfig.All.WithLogCallback((level, message) => { });
            _quiet = true;
        }
        var p = new ModelParams(gguf)
        {
            ContextSize = (uint)(promptTokens + genTokens + 16),
            BatchSize = (uint)Math.Max(512, promptTokens),
            UBatchSize = (uint)Math.Max(512, promptTokens),
            Threads = threads,
            BatchThreads = threads,
            GpuLayerCount = 0,
        };
        var sw = Stopwatch.StartNew();
        using var pinned = p.ToLlamaModelParams(out var mp);
        mp.use_extra_bufts = repack;
        // LLamaSharp 0.30.0's default load_mode is None: the file is read into llama.cpp's own buffers, not mapped.
        // With MemoryMap and repacking, the process holds the mapped file AND the repacked copies.
        if (!_loadModeShown) { Console.WriteLine($"llama.cpp: LLamaSharp default load_mode {mp.load_mode}; using {(mmap ? LLamaLoadMode.MemoryMap : mp.load_mode)}"); _loadModeShown = true; }
        if (mmap) mp.load_mode = LLamaLoadMode.MemoryMap;
        using var model = SafeLlamaModelHandle.LoadFromFile(gguf, mp);
        p.ToLlamaContextParams(out var cp);
        using var ctx = SafeLLamaContextHandle.Create(model, cp);
        double load = sw.Elapsed.TotalSeconds;
        var rng = new Random(1234);
        var prompt = new int[promptTokens];
        for (int i = 0; i < prompt.Length; i++) prompt[i] = rng.Next(Math.Min(vocabLimit, 100000));
        var batch = new LLamaBatch();

        (double, double) Once(int np, int ng)
        {
            ctx.MemoryClear(true);
            batch.Clear();
            for (int i = 0; i < np; i++) batch.Add(prompt[i], i, LLamaSeqId.Zero, i == np - 1);
            long t0 = Stopwatch.GetTimestamp();
            Check(ctx.Decode(batch));
            double prefill = Stopwatch.GetElapsedTime(t0).TotalSeconds;
            int pos = np;
            long t1 = Stopwatch.GetTimestamp();
            for (int i = 0; i < ng; i++)
            {
                var logits = ctx.GetLogitsIth(batch.TokenCount - 1);
                int best = 0;
                for (int j = 1; j < logits.Length; j++) if (logits[j] > logits[best]) best = j;
                batch.Clear();
                batch.Add(best, pos++, LLamaSeqId.Zero, true);
                Check(ctx.Decode(batch));
            }
            return (prefill, Stopwatch.GetElapsedTime(t1).TotalSeconds);
        }

        Once(Math.Min(64, promptTokens), Math.Min(8, genTokens));
        var pre = new double[runs];
        var dec = new double[runs];
        for (int i = 0; i < runs; i++) (pre[i], dec[i]) = Once(promptTokens, genTokens);
        Array.Sort(pre); Array.Sort(dec);
        return new Result(load, promptTokens / pre[runs / 2], genTokens / dec[runs / 2], ProcessMemory.Breakdown());
    }

    static void Check(DecodeResult r)
    {
        if (r != DecodeResult.Ok) throw new InvalidOperationException($"llama_decode failed: {r}");
    }
}
