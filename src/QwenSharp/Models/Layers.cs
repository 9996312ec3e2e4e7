using QwenSharp.Tensors;

namespace QwenSharp.Models;

/// <summary>A linear layer: y = x · Wᵀ (+ b). (Hugging Face: nn.Linear.)</summary>
public sealed class Linear(Matrix weight, float[]? bias)
{
    public Matrix Weight { get; } = weight;
    public float[]? Bias { get; } = bias;
    public int InFeatures => Weight.Cols;
    public int OutFeatures => Weight.Rows;

    /// <summary>LoRA updates applied at run time, indexed by adapter slot (null: none for that slot).
    /// Replaced as a whole when an adapter is attached or detached, so a forward pass sees one version.</summary>
    public Lora.LoraWeights?[] Adapters { get; internal set; } = [];
}

/// <summary>Self-attention weights of one layer (Qwen2Attention / Qwen3Attention).</summary>
public sealed class AttentionWeights
{
    public required Linear QProj { get; init; }       // [heads·head_dim, hidden]
    public required Linear KProj { get; init; }       // [kv_heads·head_dim, hidden]
    public required Linear VProj { get; init; }       // [kv_heads·head_dim, hidden]
    public required Linear OProj { get; init; }       // [hidden, heads·head_dim]
    public float[]? QNorm { get; init; }               // [head_dim] (Qwen3)
    public float[]? KNorm { get; init; }               // [head_dim] (Qwen3)
}

/// <summary>The feed-forward block of a layer: dense SwiGLU or a sparse mixture of experts.</summary>
public abstract class Mlp;

/// <summary>down(silu(gate(x)) · up(x)) (Qwen2MLP).</summary>
public sealed class DenseMlp : Mlp
{
    public required Linear GateProj { get; init; }    // [intermediate, hidden]
    public required Linear UpProj { get; init; }      // [intermediate, hidden]
    public required Linear DownProj { get; init; }    // [hidden, intermediate]
}

/// <summary>
/// Sparse MoE block (Qwen2MoeSparseMoeBlock / Qwen3MoeSparseMoeBlock): a router picks the top-k experts
/// per token; Qwen2-MoE adds a shared expert scaled by sigmoid(shared_expert_gate(x)).
/// </summary>
public sealed class SparseMoeMlp : Mlp
{
    public required float[] Router { get; init; }     // gate: [experts, hidden], f32
    public required DenseMlp[] Experts { get; init; }
    public required int TopK { get; init; }
    public required bool NormTopkProb { get; init; }
    public DenseMlp? SharedExpert { get; init; }
    public float[]? SharedExpertGate { get; init; }    // [hidden]
}

/// <summary>One decoder layer (Qwen2DecoderLayer).</summary>
public sealed class DecoderLayer
{
    public required float[] InputLayernorm { get; init; }          // [hidden]
    public required AttentionWeights SelfAttn { get; init; }
    public required float[] PostAttentionLayernorm { get; init; }  // [hidden]
    public required Mlp Mlp { get; init; }
}
