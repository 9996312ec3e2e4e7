using System.Text.Json;

namespace QwenSharp.Catalog;

/// <summary>A vision or audio encoder in front of the language model (its weights are counted, not run).</summary>
/// <param name="Kind">"vision" or "audio".</param>
/// <param name="Layers">Transformer blocks.</param>
/// <param name="Hidden">Width.</param>
/// <param name="Intermediate">MLP width.</param>
/// <param name="GatedMlp">SwiGLU-style MLP (three matrices) rather than two.</param>
/// <param name="ExtraParams">Patch/convolution embeddings, position tables and the projector into the language model.</param>
public sealed record EncoderArchitecture(string Kind, int Layers, int Hidden, int Intermediate, bool GatedMlp, long ExtraParams)
{
    /// <summary>Attention (q, k, v, o with biases), MLP (with biases) and two norms per block, plus <see cref="ExtraParams"/>.</summary>
    public long Params => (long)Layers * (4L * Hidden * Hidden + 4L * Hidden + (GatedMlp ? 3L : 2L) * Hidden * Intermediate
                                         + (GatedMlp ? 2L : 1L) * Intermediate + Hidden + 4L * Hidden) + ExtraParams;
}

/// <summary>One tensor of a GGUF file as llama.cpp names it, with its shape in GGUF order (<c>Ne[0]</c> is the row length).</summary>
public sealed record GgufTensorSpec(string Name, long[] Ne, int Layer)
{
    public long Elements => Ne.Aggregate(1L, (a, b) => a * b);
    public long Rows => Elements / Ne[0];
}

/// <summary>
/// The shape of a Qwen language model (Qwen2 / Qwen2.5, Qwen3 and their MoE variants), enough to count its
/// parameters and to list the tensors of its GGUF file (names and shapes as llama.cpp's converter writes
/// them), from which <see cref="GgufSize"/> and <see cref="MemoryEstimate"/> compute sizes.
/// </summary>
public sealed record ModelArchitecture
{
    /// <summary>GGUF general.architecture of the language model: qwen2, qwen3, qwen2moe or qwen3moe.</summary>
    public required string Arch { get; init; }
    public required int Layers { get; init; }
    public required int Hidden { get; init; }
    /// <summary>Dense MLP width (0 for MoE models where every layer is MoE).</summary>
    public int Intermediate { get; init; }
    public required int Heads { get; init; }
    public required int KvHeads { get; init; }
    public required int HeadDim { get; init; }
    public required int VocabSize { get; init; }
    public bool TiedEmbeddings { get; init; }
    /// <summary>Whether the GGUF file carries an output.weight tensor. Untied models always do; some tied
    /// checkpoints store lm_head anyway (Qwen3-0.6B/1.7B) and the official Qwen2.5 GGUFs of tied models copy it.</summary>
    public bool? GgufOutputTensor { get; init; }
    /// <summary>Bias on q/k/v projections (Qwen2 family).</summary>
    public bool QkvBias { get; init; }
    /// <summary>RMSNorm on q and k per head (Qwen3 family).</summary>
    public bool QkNorm { get; init; }
    public int Experts { get; init; }
    public int ExpertsUsed { get; init; }
    public int ExpertIntermediate { get; init; }
    /// <summary>Width of the always-on shared expert (Qwen2-MoE), 0 when none.</summary>
    public int SharedExpertIntermediate { get; init; }
    public EncoderArchitecture? Vision { get; init; }
    public EncoderArchitecture? Audio { get; init; }

    public bool IsMoe => Experts > 0;
    public bool HasOutputTensor => GgufOutputTensor ?? !TiedEmbeddings;

    /// <summary>The language-model tensors of the GGUF file, in llama.cpp's names and GGUF shapes.</summary>
    public IReadOnlyList<GgufTensorSpec> GgufTensors()
    {
        long H = Hidden, V = VocabSize, q = (long)Heads * HeadDim, kv = (long)KvHeads * HeadDim;
        var t = new List<GgufTensorSpec> { new("token_embd.weight", [H, V], -1) };
        if (HasOutputTensor) t.Add(new("output.weight", [H, V], -1));
        t.Add(new("output_norm.weight", [H], -1));
        for (int i = 0; i < Layers; i++)
        {
            string p = $"blk.{i}.";
            t.Add(new(p + "attn_norm.weight", [H], i));
            t.Add(new(p + "attn_q.weight", [H, q], i));
            t.Add(new(p + "attn_k.weight", [H, kv], i));
            t.Add(new(p + "attn_v.weight", [H, kv], i));
            t.Add(new(p + "attn_output.weight", [q, H], i));
            if (QkvBias)
            {
                t.Add(new(p + "attn_q.bias", [q], i));
                t.Add(new(p + "attn_k.bias", [kv], i));
                t.Add(new(p + "attn_v.bias", [kv], i));
            }
            if (QkNorm)
            {
                t.Add(new(p + "attn_q_norm.weight", [HeadDim], i));
                t.Add(new(p + "attn_k_norm.weight", [HeadDim], i));
            }
            t.Add(new(p + "ffn_norm.weight", [H], i));
            if (IsMoe)
            {
                long E = Experts, EI = ExpertIntermediate;
                t.Add(new(p + "ffn_gate_inp.weight", [H, E], i));
                t.Add(new(p + "ffn_gate_exps.weight", [H, EI, E], i));
                t.Add(new(p + "ffn_up_exps.weight", [H, EI, E], i));
                t.Add(new(p + "ffn_down_exps.weight", [EI, H, E], i));
                if (SharedExpertIntermediate > 0)
                {
                    long S = SharedExpertIntermediate;
                    t.Add(new(p + "ffn_gate_inp_shexp.weight", [H], i));
                    t.Add(new(p + "ffn_gate_shexp.weight", [H, S], i));
                    t.Add(new(p + "ffn_up_shexp.weight", [H, S], i));
                    t.Add(new(p + "ffn_down_shexp.weight", [S, H], i));
                }
            }
            else
            {
                long I = Intermediate;
                t.Add(new(p + "ffn_gate.weight", [H, I], i));
                t.Add(new(p + "ffn_up.weight", [H, I], i));
                t.Add(new(p + "ffn_down.weight", [I, H], i));
            }
        }
        return t;
    }

    /// <summary>Parameters of the embedding table (and of lm_head when untied).</summary>
    public long EmbeddingParams => (long)VocabSize * Hidden * (TiedEmbeddings ? 1 : 2);

    /// <summary>All parameters, as the model cards count them (a tied lm_head once), encoders included.</summary>
    public long TotalParams => LanguageParams(activeOnly: false) + (Vision?.Params ?? 0) + (Audio?.Params ?? 0);

    /// <summary>Parameters used per token: all but the experts not routed to (top-k of E), encoders included.</summary>
    public long ActiveParams => LanguageParams(activeOnly: true) + (Vision?.Params ?? 0) + (Audio?.Params ?? 0);

    /// <summary>Parameters outside the embedding table and lm_head.</summary>
    public long NonEmbeddingParams => LanguageParams(activeOnly: false) - EmbeddingParams;

    long LanguageParams(bool activeOnly)
    {
        long total = 0;
        foreach (var t in GgufTensors())
        {
            if (t.Name == "output.weight" && TiedEmbeddings) continue;
            long n = t.Elements;
            if (activeOnly && t.Name.Contains("_exps", StringComparison.Ordinal)) n = n / Experts * ExpertsUsed;
            total += n;
        }
        return total;
    }

    /// <summary>
    /// Reads the language-model shape from a Hugging Face config.json (model_type qwen2, qwen3, qwen2_moe,
    /// qwen3_moe; the text_config of a multimodal config is used when present).
    /// </summary>
    public static ModelArchitecture FromConfigJson(string json, string source = "config.json")
    {
        using var doc = JsonDocument.Parse(json);
        var root = doc.RootElement;
        var c = root.TryGetProperty("text_config", out var tc) && tc.ValueKind == JsonValueKind.Object && tc.TryGetProperty("hidden_size", out _) ? tc : root;
        string modelType = (c.TryGetProperty("model_type", out var mt) ? mt.GetString() : null) ?? (root.TryGetProperty("model_type", out var rmt) ? rmt.GetString() : null)
            ?? throw new FormatException($"{source}: no model_type");
        int Int(string name, int? fallback = null) => c.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetInt32()
            : fallback ?? throw new FormatException($"{source}: missing {name}");
        bool Bool(string name, bool fallback) => c.TryGetProperty(name, out var v) && v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean()
            : root.TryGetProperty(name, out var rv) && rv.ValueKind is JsonValueKind.True or JsonValueKind.False ? rv.GetBoolean() : fallback;
        int hidden = Int("hidden_size"), heads = Int("num_attention_heads");
        bool qwen3 = modelType.StartsWith("qwen3", StringComparison.Ordinal);
        bool moe = modelType.EndsWith("_moe", StringComparison.Ordinal);
        return new ModelArchitecture
        {
            Arch = (qwen3 ? "qwen3" : "qwen2") + (moe ? "moe" : ""),
            Layers = Int("num_hidden_layers"),
            Hidden = hidden,
            Intermediate = moe ? 0 : Int("intermediate_size"),
            Heads = heads,
            KvHeads = Int("num_key_value_heads", heads),
            HeadDim = Int("head_dim", hidden / heads),
            VocabSize = Int("vocab_size"),
            TiedEmbeddings = Bool("tie_word_embeddings", false),
            QkvBias = !qwen3 || Bool("attention_bias", false),
            QkNorm = qwen3,
            Experts = moe ? Int("num_experts") : 0,
            ExpertsUsed = moe ? Int("num_experts_per_tok") : 0,
            ExpertIntermediate = moe ? Int("moe_intermediate_size") : 0,
            SharedExpertIntermediate = moe && !qwen3 ? Int("shared_expert_intermediate_size", 0) : 0,
        };
    }
}
