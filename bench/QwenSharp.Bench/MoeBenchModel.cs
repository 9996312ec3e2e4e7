using QwenSharp.Formats;
using QwenSharp.Models;
using QwenSharp.Tensors;
using QwenSharp.Tensors.Quantization;

namespace QwenSharp.Bench;

/// <summary>
/// Writes a random-weight GGUF with Qwen3-30B-A3B's real shapes (48 layers, hidden 2048, 32 heads, 4 KV heads,
/// head_dim 128, 128 experts of 768, top-8, vocabulary 151936, untied output) at Q4_K_M, streamed to disk without
/// holding the model in memory. Per tensor type, llama.cpp's Q4_K_M rules (QuantizedEncoder): Q4_K, with Q6_K for
/// attn_v / ffn_down(_exps) of the use_more_bits layers and the output; the router stays F32.
/// To keep creation I/O-bound, a few random matrices per shape are quantized and their blocks reused across
/// experts and layers (speed does not depend on the values; routing still differs per token because the
/// routers are random). Same layout and byte count as a real Q4_K_M file of this shape.
/// </summary>
public sealed class MoeBenchModel : IBenchmark
{
    public string Name => "create-moe";
    public string Description => "Write a random Qwen3-30B-A3B-shaped GGUF: --out FILE.gguf [--layers 48] [--type Q4_K_M]";

    public int Run(string[] args)
    {
        var a = new BenchArgs(args);
        string outPath = a.Get("out") ?? throw new ArgumentException("--out FILE.gguf is required");
        int layers = a.GetInt("layers", 48);
        string scheme = a.Get("type", "Q4_K_M");
        var cfg = new ModelConfig
        {
            ModelType = "qwen3_moe", HiddenSize = 2048, IntermediateSize = 6144, NumHiddenLayers = layers, NumAttentionHeads = 32,
            NumKeyValueHeads = 4, HeadDim = 128, VocabSize = 151936, MaxPositionEmbeddings = 40960, RopeTheta = 1e6, QkNorm = true,
            NumExperts = 128, NumExpertsPerTok = 8, MoeIntermediateSize = 768, NormTopkProb = true,
        };
        var enc = new QuantizedEncoder(scheme, layers, hasOutputTensor: true);
        var rng = new Random(7);
        var cache = new Dictionary<(GgmlType, long, long, int), byte[]>();

        // Quantized bytes of a random [rows, cols] matrix (variant v of that shape), made once and reused.
        byte[] Quantized(GgmlType type, long rows, long cols, int variant)
        {
            var key = (type, rows, cols, variant);
            if (cache.TryGetValue(key, out var b)) return b;
            long rowBytes = GgmlTypeInfo.RowBytes(type, cols);
            b = new byte[rowBytes * rows];
            var x = new float[cols];
            unsafe
            {
                fixed (float* px = x) fixed (byte* pb = b)
                    for (long r = 0; r < rows; r++)
                    {
                        for (int i = 0; i < cols; i++) x[i] = (float)((rng.NextDouble() - 0.5) * 0.04);
                        BlockQuantizer.Row(type, px, pb + r * rowBytes, (int)cols);
                    }
            }
            return cache[key] = b;
        }
        byte[] F32(long n, float center, float spread)
        {
            var v = new float[n];
            for (long i = 0; i < n; i++) v[i] = center + (float)(rng.NextDouble() - 0.5) * 2 * spread;
            return System.Runtime.InteropServices.MemoryMarshal.AsBytes(v.AsSpan()).ToArray();
        }

        var w = new GgufWriter();
        GgufExport.AddConfigMetadata(w, cfg, "qwen3-30b-a3b-shape-random", enc.FileType);
        AddSyntheticTokenizer(w, cfg.VocabSize);
        void Matrix(string name, long rows, long cols)
        {
            var t = enc.TypeFor(name, rows, cols);
            w.AddTensor(name, t, [rows, cols], s => s.Write(Quantized(t, rows, cols, 0)));
        }
        void Experts(string name, long rows, long cols)
        {
            var t = enc.TypeFor(name, rows * cfg.NumExperts, cols);
            w.AddTensor(name, t, [cfg.NumExperts, rows, cols], s =>
            {
                for (int e = 0; e < cfg.NumExperts; e++) s.Write(Quantized(t, rows, cols, e % 4));
            });
        }
        void Vector(string name, long n, float center, float spread) => w.AddTensor(name, GgmlType.F32, [n], F32(n, center, spread));

        Matrix("token_embd.weight", cfg.VocabSize, 2048);
        for (int l = 0; l < layers; l++)
        {
            string p = $"blk.{l}.";
            Vector(p + "attn_norm.weight", 2048, 1, 0.1f);
            Matrix(p + "attn_q.weight", 32 * 128, 2048);
            Matrix(p + "attn_k.weight", 4 * 128, 2048);
            Matrix(p + "attn_v.weight", 4 * 128, 2048);
            Matrix(p + "attn_output.weight", 2048, 32 * 128);
            Vector(p + "attn_q_norm.weight", 128, 1, 0.1f);
            Vector(p + "attn_k_norm.weight", 128, 1, 0.1f);
            Vector(p + "ffn_norm.weight", 2048, 1, 0.1f);
            w.AddTensor(p + "ffn_gate_inp.weight", GgmlType.F32, [cfg.NumExperts, 2048], F32(cfg.NumExperts * 2048L, 0, 0.05f));
            Experts(p + "ffn_gate_exps.weight", 768, 2048);
            Experts(p + "ffn_up_exps.weight", 768, 2048);
            Experts(p + "ffn_down_exps.weight", 2048, 768);
        }
        Vector("output_norm.weight", 2048, 1, 0.1f);
        Matrix("output.weight", cfg.VocabSize, 2048);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        w.Write(outPath);
        Console.WriteLine($"{outPath}: {new FileInfo(outPath).Length / 1e9:0.00} GB, {layers} layers, {scheme}, written in {sw.Elapsed.TotalSeconds:0} s");
        return 0;
    }

    /// <summary>Tokens t0..tN plus Qwen's special tokens at their real ids (enough for llama.cpp to load the file).</summary>
    internal static void AddSyntheticTokenizer(GgufWriter w, int vocab)
    {
        var tokens = new string[vocab];
        var types = new int[vocab];
        for (int i = 0; i < vocab; i++) { tokens[i] = $"t{i}"; types[i] = 1; }
        string[] specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];
        for (int i = 0; i < specials.Length; i++) { tokens[151643 + i] = specials[i]; types[151643 + i] = 3; }
        for (int i = 151646; i < vocab; i++) { tokens[i] = $"[PAD{i}]"; types[i] = 5; }
        w.Add("tokenizer.ggml.model", "gpt2");
        w.Add("tokenizer.ggml.pre", "qwen2");
        w.Add("tokenizer.ggml.tokens", tokens);
        w.Add("tokenizer.ggml.token_type", types);
        w.Add("tokenizer.ggml.merges", Array.Empty<string>());
        w.Add("tokenizer.ggml.eos_token_id", 151645u);
        w.Add("tokenizer.ggml.bos_token_id", 151643u);
        w.Add("tokenizer.ggml.padding_token_id", 151643u);
        w.Add("tokenizer.ggml.add_bos_token", false);
    }
}
