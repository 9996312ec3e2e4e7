using QwenSharp.Models;

namespace QwenSharp.Lora;

/// <summary>One linear layer of a Qwen model that LoRA can adapt.</summary>
/// <param name="Module">Hugging Face module path (model.layers.3.mlp.down_proj).</param>
/// <param name="Layer">Decoder layer index.</param>
/// <param name="Name">The short name PEFT's target_modules match (down_proj).</param>
/// <param name="InFeatures">Input width of the layer (columns of its weight).</param>
/// <param name="OutFeatures">Output width of the layer (rows of its weight).</param>
public sealed record LoraTarget(string Module, int Layer, string Name, int InFeatures, int OutFeatures);

/// <summary>The linear layers of a Qwen model by their Hugging Face module paths, and their GGUF names.</summary>
public static class LoraTargets
{
    /// <summary>Every adaptable linear layer of a model with this configuration, in file order.</summary>
    public static IEnumerable<LoraTarget> All(ModelConfig c)
    {
        int hidden = c.HiddenSize, qd = c.NumAttentionHeads * c.HeadDim, kd = c.NumKeyValueHeads * c.HeadDim;
        for (int l = 0; l < c.NumHiddenLayers; l++)
        {
            string p = $"model.layers.{l}";
            yield return new($"{p}.self_attn.q_proj", l, "q_proj", hidden, qd);
            yield return new($"{p}.self_attn.k_proj", l, "k_proj", hidden, kd);
            yield return new($"{p}.self_attn.v_proj", l, "v_proj", hidden, kd);
            yield return new($"{p}.self_attn.o_proj", l, "o_proj", qd, hidden);
            if (c.IsSparseLayer(l))
            {
                for (int e = 0; e < c.NumExperts; e++)
                    foreach (var t in Mlp($"{p}.mlp.experts.{e}", l, hidden, c.MoeIntermediateSize)) yield return t;
                if (c.SharedExpertIntermediateSize > 0)
                    foreach (var t in Mlp($"{p}.mlp.shared_expert", l, hidden, c.SharedExpertIntermediateSize)) yield return t;
            }
            else
            {
                foreach (var t in Mlp($"{p}.mlp", l, hidden, c.IntermediateSize)) yield return t;
            }
        }
    }

    static IEnumerable<LoraTarget> Mlp(string p, int l, int hidden, int inter)
    {
        yield return new($"{p}.gate_proj", l, "gate_proj", hidden, inter);
        yield return new($"{p}.up_proj", l, "up_proj", hidden, inter);
        yield return new($"{p}.down_proj", l, "down_proj", inter, hidden);
    }

    /// <summary>
    /// The GGUF weight name of a module (blk.0.attn_q.weight), or for a routed expert the stacked tensor
    /// and the expert index (blk.0.ffn_gate_exps.weight, 3).
    /// </summary>
    public static (string GgufName, int Expert) GgufName(string module)
    {
        var m = System.Text.RegularExpressions.Regex.Match(module, @"^model\.layers\.(\d+)\.mlp\.experts\.(\d+)\.(gate|up|down)_proj$");
        if (m.Success) return ($"blk.{m.Groups[1].Value}.ffn_{m.Groups[3].Value}_exps.weight", int.Parse(m.Groups[2].Value));
        return (GgufSource.ToGgufName(module + ".weight") ?? throw new ArgumentException($"no GGUF name for module '{module}'"), -1);
    }
}
