using QwenSharp.Tensors;

namespace QwenSharp.Catalog;

/// <summary>
/// The tensor types llama.cpp gives a Qwen model for a GGUF file type, and the resulting byte counts, computed
/// from the architecture with GGUF's real block sizes (Q8_0 34 bytes per 32 weights, Q4_0 18/32, Q4_K 144/256,
/// Q5_K 176/256, Q6_K 210/256, F16/BF16 2 per weight, F32 4). The rules are those of llama.cpp's quantizer
/// (<c>llama_tensor_get_type</c>, default settings, no importance matrix):
/// <list type="bullet">
/// <item>1-D tensors (norms, biases) and the MoE router stay F32;</item>
/// <item>output.weight, or the token embedding of a model without one (tied), gets Q6_K (Q8_0 for Q8_0 files,
/// and whenever the row length is not a multiple of the block size);</item>
/// <item>Q4_K_M and Q5_K_M give Q6_K to attn_v and ffn_down in the layers where
/// <c>use_more_bits(i, n) = i &lt; n/8 || i &gt;= 7n/8 || (i - n/8) % 3 == 2</c>; the 80-layer Qwen2 (a "70B" for
/// llama.cpp) gets Q5_K instead of Q4_K for attn_v;</item>
/// <item>a tensor whose rows are not a whole number of blocks falls back: Q4_K to Q5_0, Q5_K to Q5_1, Q6_K to Q8_0
/// (this is why Qwen2.5-0.5B, with rows of 896, is mostly Q5_0 in a "Q4_K_M" file).</item>
/// </list>
/// F16/BF16 files keep 1-D tensors and the router in F32.
/// </summary>
public static class GgufSize
{
    /// <summary>GGUF header, tokenizer and other metadata: about 40 bytes per vocabulary entry (token strings,
    /// token types and merges of Qwen's byte-level BPE; measured 6.0 MB for the 151,936-entry vocabulary).</summary>
    public static long MetadataBytes(ModelArchitecture a) => 40L * a.VocabSize;

    /// <summary>Each tensor of the file with the type llama.cpp gives it.</summary>
    public static IReadOnlyList<(GgufTensorSpec Tensor, GgmlType Type)> Assign(ModelArchitecture a, GgufQuant quant)
    {
        var tensors = a.GgufTensors();
        bool tied = !tensors.Any(t => t.Name == "output.weight");
        return tensors.Select(t => (t, TypeOf(a, t, quant, tied))).ToList();
    }

    /// <summary>Bytes of all language-model tensor data.</summary>
    public static long TensorBytes(ModelArchitecture a, GgufQuant quant) =>
        Assign(a, quant).Sum(x => Bytes(x.Tensor, x.Type));

    /// <summary>Estimated size of the .gguf file (tensor data plus metadata).</summary>
    public static long FileBytes(ModelArchitecture a, GgufQuant quant) => TensorBytes(a, quant) + MetadataBytes(a);

    /// <summary>Bytes of one tensor stored as <paramref name="type"/>.</summary>
    public static long Bytes(GgufTensorSpec t, GgmlType type)
    {
        long row = GgmlTypeInfo.RowBytes(type, t.Ne[0]);
        if (row < 0) throw new InvalidOperationException($"{t.Name}: rows of {t.Ne[0]} are not whole {type} blocks");
        return row * t.Rows;
    }

    static GgmlType TypeOf(ModelArchitecture a, GgufTensorSpec t, GgufQuant quant, bool tied)
    {
        bool router = t.Name.Contains("ffn_gate_inp", StringComparison.Ordinal);
        if (t.Ne.Length < 2 || router) return GgmlType.F32;
        if (!GgufQuantInfo.IsQuantized(quant)) return GgufQuantInfo.DefaultType(quant);

        GgmlType baseType = GgufQuantInfo.DefaultType(quant), type = baseType;
        bool mixture = quant is GgufQuant.Q4_K_M or GgufQuant.Q5_K_M;
        if (t.Name == "output.weight" || (tied && t.Name == "token_embd.weight"))
        {
            if (t.Ne[0] % GgmlTypeInfo.Layout(baseType).BlockSize != 0) type = GgmlType.Q8_0;
            else if (baseType != GgmlType.Q8_0) type = GgmlType.Q6_K;
        }
        else if (t.Name == "token_embd.weight") { }
        else if (t.Name.EndsWith("attn_v.weight", StringComparison.Ordinal))
        {
            if (mixture && UseMoreBits(t.Layer, a.Layers)) type = GgmlType.Q6_K;
            if (a.Arch == "qwen2" && a.Layers == 80 && type is GgmlType.Q4_K or GgmlType.Q3_K) type = GgmlType.Q5_K;
        }
        else if (t.Name.Contains("ffn_down", StringComparison.Ordinal))
        {
            if (mixture && UseMoreBits(t.Layer, a.Layers)) type = GgmlType.Q6_K;
        }

        if (t.Ne[0] % GgmlTypeInfo.Layout(type).BlockSize != 0)
        {
            type = type switch
            {
                GgmlType.Q4_K => GgmlType.Q5_0,
                GgmlType.Q5_K => GgmlType.Q5_1,
                GgmlType.Q6_K => GgmlType.Q8_0,
                _ => GgmlType.F16,
            };
            if (t.Ne[0] % GgmlTypeInfo.Layout(type).BlockSize != 0) type = GgmlType.F16;
        }
        return type;
    }

    /// <summary>llama.cpp's choice of the layers that get more bits in the _M mixtures.</summary>
    public static bool UseMoreBits(int layer, int layers) =>
        layer < layers / 8 || layer >= 7 * layers / 8 || (layer - layers / 8) % 3 == 2;
}
