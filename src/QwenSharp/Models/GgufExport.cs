using System.Runtime.InteropServices;
using QwenSharp.Formats;
using QwenSharp.Tensors;

namespace QwenSharp.Models;

/// <summary>
/// Writes a model as a GGUF file with llama.cpp's metadata keys and tensor names, so llama.cpp and our
/// reader load it. Weight matrices are converted by a <see cref="TensorEncoder"/> (F32, F16 and BF16
/// here; quantized types plug in the same way); 1-D tensors and the MoE router stay F32, as llama.cpp's
/// converter keeps them.
/// </summary>
public static unsafe class GgufExport
{
    /// <summary>Chooses the output type of one weight matrix and writes its bytes.</summary>
    public abstract class TensorEncoder
    {
        /// <summary>llama.cpp's general.file_type for the whole file (llama_ftype).</summary>
        public abstract uint FileType { get; }
        /// <summary>The type for a 2-D weight (ggufName like "blk.0.attn_q.weight"), given its shape [rows, cols].</summary>
        public abstract GgmlType TypeFor(string ggufName, long rows, long cols);
        /// <summary>Writes rows×cols f32 values (row-major) as <paramref name="type"/>.</summary>
        public abstract void Encode(GgmlType type, ReadOnlySpan<float> rowMajor, long rows, long cols, Stream output);
    }

    /// <summary>Plain float output: F32, F16 or BF16 weights.</summary>
    public sealed class FloatEncoder(GgmlType type) : TensorEncoder
    {
        public override uint FileType => type switch { GgmlType.F32 => 0u, GgmlType.F16 => 1u, GgmlType.BF16 => 32u, _ => throw new ArgumentException($"{type} is not a float type") };
        public override GgmlType TypeFor(string ggufName, long rows, long cols) => type;

        public override void Encode(GgmlType t, ReadOnlySpan<float> values, long rows, long cols, Stream output)
        {
            switch (t)
            {
                case GgmlType.F32: output.Write(MemoryMarshal.AsBytes(values)); break;
                case GgmlType.F16:
                    {
                        var h = new ushort[values.Length];
                        for (int i = 0; i < h.Length; i++) h[i] = Numerics.FloatToHalf(values[i]);
                        output.Write(MemoryMarshal.AsBytes(h.AsSpan()));
                        break;
                    }
                case GgmlType.BF16:
                    {
                        var h = new ushort[values.Length];
                        for (int i = 0; i < h.Length; i++) h[i] = Numerics.FloatToBFloat16(values[i]);
                        output.Write(MemoryMarshal.AsBytes(h.AsSpan()));
                        break;
                    }
                default: throw new NotSupportedException($"FloatEncoder cannot write {t}");
            }
        }
    }

    /// <summary>The GGUF tensor list of a model: (gguf name, HF names (several for stacked experts), shape row-major).</summary>
    public static List<(string GgufName, string[] HfNames, long[] Shape)> TensorPlan(ModelConfig c, WeightSource src)
    {
        var plan = new List<(string, string[], long[])>();
        void One(string hf)
        {
            var t = src.Get(hf);
            string g = GgufSource.ToGgufName(hf) ?? throw new InvalidOperationException($"no GGUF name for {hf}");
            long[] shape = t.Shape;
            if (g.EndsWith("ffn_gate_inp_shexp.weight", StringComparison.Ordinal)) shape = [t.Elements];
            plan.Add((g, [hf], shape));
        }
        void Opt(string hf) { if (src.TryGet(hf, out _)) One(hf); }

        One("model.embed_tokens.weight");
        for (int l = 0; l < c.NumHiddenLayers; l++)
        {
            string p = $"model.layers.{l}";
            One($"{p}.input_layernorm.weight");
            foreach (var x in new[] { "q", "k", "v" })
            {
                One($"{p}.self_attn.{x}_proj.weight");
                Opt($"{p}.self_attn.{x}_proj.bias");
            }
            One($"{p}.self_attn.o_proj.weight");
            if (c.QkNorm) { One($"{p}.self_attn.q_norm.weight"); One($"{p}.self_attn.k_norm.weight"); }
            One($"{p}.post_attention_layernorm.weight");
            if (c.IsSparseLayer(l))
            {
                One($"{p}.mlp.gate.weight");
                foreach (var proj in new[] { "gate", "up", "down" })
                {
                    var names = Enumerable.Range(0, c.NumExperts).Select(e => $"{p}.mlp.experts.{e}.{proj}_proj.weight").ToArray();
                    var t0 = src.Get(names[0]);
                    plan.Add(($"blk.{l}.ffn_{proj}_exps.weight", names, [c.NumExperts, t0.Shape[0], t0.Shape[1]]));
                }
                if (src.TryGet($"{p}.mlp.shared_expert.gate_proj.weight", out _))
                {
                    One($"{p}.mlp.shared_expert_gate.weight");
                    foreach (var proj in new[] { "gate", "up", "down" }) One($"{p}.mlp.shared_expert.{proj}_proj.weight");
                }
            }
            else
            {
                foreach (var proj in new[] { "gate", "up", "down" }) One($"{p}.mlp.{proj}_proj.weight");
            }
        }
        One("model.norm.weight");
        if (!c.TieWordEmbeddings) Opt("lm_head.weight");
        return plan;
    }

    /// <summary>Adds the architecture metadata llama.cpp reads for Qwen models.</summary>
    public static void AddConfigMetadata(GgufWriter w, ModelConfig c, string name, uint fileType)
    {
        string a = c.GgufArchitecture;
        w.Add("general.architecture", a);
        w.Add("general.type", "model");
        w.Add("general.name", name);
        w.Add("general.file_type", fileType);
        w.Add("general.quantization_version", 2u);
        w.Add($"{a}.block_count", (uint)c.NumHiddenLayers);
        w.Add($"{a}.context_length", (uint)c.MaxPositionEmbeddings);
        w.Add($"{a}.embedding_length", (uint)c.HiddenSize);
        if (c.IntermediateSize > 0) w.Add($"{a}.feed_forward_length", (uint)c.IntermediateSize);
        w.Add($"{a}.attention.head_count", (uint)c.NumAttentionHeads);
        w.Add($"{a}.attention.head_count_kv", (uint)c.NumKeyValueHeads);
        w.Add($"{a}.rope.freq_base", (float)c.RopeTheta);
        w.Add($"{a}.attention.layer_norm_rms_epsilon", (float)c.RmsNormEps);
        if (c.QkNorm || c.HeadDim != c.HiddenSize / c.NumAttentionHeads)
        {
            w.Add($"{a}.attention.key_length", (uint)c.HeadDim);
            w.Add($"{a}.attention.value_length", (uint)c.HeadDim);
        }
        if (c.RopeScaling is { } rs)
        {
            w.Add($"{a}.rope.scaling.type", rs.Type);
            w.Add($"{a}.rope.scaling.factor", (float)rs.Factor);
            if (rs.OriginalMaxPositionEmbeddings is int o) w.Add($"{a}.rope.scaling.original_context_length", (uint)o);
        }
        if (c.IsMoe)
        {
            w.Add($"{a}.expert_count", (uint)c.NumExperts);
            w.Add($"{a}.expert_used_count", (uint)c.NumExpertsPerTok);
            w.Add($"{a}.expert_feed_forward_length", (uint)c.MoeIntermediateSize);
            if (c.SharedExpertIntermediateSize > 0) w.Add($"{a}.expert_shared_feed_forward_length", (uint)c.SharedExpertIntermediateSize);
        }
    }

    /// <summary>
    /// Writes the model's weights from <paramref name="src"/> as a GGUF file (atomically). The caller may
    /// add tokenizer metadata through <paramref name="extraMetadata"/>.
    /// </summary>
    public static void Write(ModelConfig c, WeightSource src, string path, TensorEncoder encoder, string name, Action<GgufWriter>? extraMetadata = null)
    {
        var w = new GgufWriter();
        AddConfigMetadata(w, c, name, encoder.FileType);
        extraMetadata?.Invoke(w);
        foreach (var (g, hf, shape) in TensorPlan(c, src))
        {
            bool keepF32 = shape.Length == 1 || g.EndsWith("ffn_gate_inp.weight", StringComparison.Ordinal) || g.EndsWith("ffn_gate_inp_shexp.weight", StringComparison.Ordinal);
            long rows = shape.Length == 1 ? 1 : shape[^2] * (shape.Length == 3 ? shape[0] : 1);
            long cols = shape[^1];
            var type = keepF32 ? GgmlType.F32 : encoder.TypeFor(g, rows, cols);
            w.AddTensor(g, type, shape, s =>
            {
                foreach (var n in hf)
                {
                    var t = src.Get(n);
                    long r = t.Shape.Length == 1 ? 1 : t.Shape[0];
                    long k = t.Shape[^1];
                    var values = new float[r * k];
                    MatrixFactory.Dequantize(t.Type, t.Data, r, (int)k, values, n);
                    if (type == GgmlType.F32) s.Write(MemoryMarshal.AsBytes(values.AsSpan()));
                    else encoder.Encode(type, values, r, k, s);
                }
            });
        }
        w.Write(path);
    }
}
