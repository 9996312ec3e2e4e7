using System.Text.Json;
using System.Text.Json.Nodes;
using QwenSharp.Formats;

namespace QwenSharp.Models;

/// <summary>RoPE scaling as config.json's rope_scaling gives it (type "yarn" or "linear").</summary>
public sealed record RopeScaling(string Type, double Factor, int? OriginalMaxPositionEmbeddings,
    double BetaFast = 32, double BetaSlow = 1, double? AttentionFactor = null);

/// <summary>
/// One model configuration, whatever the source (config.json or GGUF metadata). Field names follow
/// Hugging Face's config.json. Architectures: qwen2 (Qwen2, Qwen2.5, Qwen2.5-Coder/-Math, QwQ), qwen3,
/// qwen2_moe, qwen3_moe.
/// </summary>
public sealed record ModelConfig
{
    public static readonly string[] SupportedModelTypes = ["qwen2", "qwen3", "qwen2_moe", "qwen3_moe"];

    public required string ModelType { get; init; }
    public required int HiddenSize { get; init; }
    public required int IntermediateSize { get; init; }
    public required int NumHiddenLayers { get; init; }
    public required int NumAttentionHeads { get; init; }
    public required int NumKeyValueHeads { get; init; }
    public required int HeadDim { get; init; }
    public required int VocabSize { get; init; }
    public int MaxPositionEmbeddings { get; init; } = 32768;
    public double RopeTheta { get; init; } = 10000;
    public double RmsNormEps { get; init; } = 1e-6;
    public bool TieWordEmbeddings { get; init; }
    /// <summary>q/k/v projections have a bias (Qwen2, Qwen2-MoE).</summary>
    public bool AttentionBias { get; init; }
    /// <summary>RMSNorm over head_dim on q and k before RoPE (Qwen3, Qwen3-MoE).</summary>
    public bool QkNorm { get; init; }
    public RopeScaling? RopeScaling { get; init; }

    // Mixture of experts (0 experts: dense).
    public int NumExperts { get; init; }
    public int NumExpertsPerTok { get; init; }
    public int MoeIntermediateSize { get; init; }
    public int SharedExpertIntermediateSize { get; init; }
    public bool NormTopkProb { get; init; }
    public int DecoderSparseStep { get; init; } = 1;
    public int[] MlpOnlyLayers { get; init; } = [];

    /// <summary>dtype the weights were saved in, when known (e.g. "bfloat16").</summary>
    public string? TorchDtype { get; init; }

    public bool IsMoe => NumExperts > 0;

    /// <summary>Whether layer <paramref name="layer"/> uses the sparse MoE block (transformers' rule).</summary>
    public bool IsSparseLayer(int layer) =>
        IsMoe && !MlpOnlyLayers.Contains(layer) && DecoderSparseStep > 0 && (layer + 1) % DecoderSparseStep == 0;

    /// <summary>GGUF architecture name (general.architecture) for this model type.</summary>
    public string GgufArchitecture => ModelType.Replace("_", "");

    // ------------------------------------------------------------------------------------------------

    /// <summary>Reads a Hugging Face config.json.</summary>
    public static ModelConfig FromConfigJson(string path)
    {
        JsonObject o;
        try { o = JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new ModelFormatException(path, "config.json is not a JSON object"); }
        catch (JsonException e) { throw new ModelFormatException(path, $"not valid JSON: {e.Message}"); }
        var r = new JsonFields(path, o);

        string modelType = r.String("model_type") ?? throw new ModelFormatException(path, "missing 'model_type'");
        if (!SupportedModelTypes.Contains(modelType))
            throw new ModelFormatException(path, $"unsupported architecture model_type '{modelType}' (supported: {string.Join(", ", SupportedModelTypes)})");
        int hidden = r.RequiredInt("hidden_size");
        int heads = r.RequiredInt("num_attention_heads");
        int layers = r.RequiredInt("num_hidden_layers");
        bool isQwen3 = modelType.StartsWith("qwen3", StringComparison.Ordinal);
        bool isMoe = modelType.EndsWith("_moe", StringComparison.Ordinal);
        var cfg = new ModelConfig
        {
            ModelType = modelType,
            HiddenSize = hidden,
            IntermediateSize = r.Int("intermediate_size") ?? (isMoe ? 0 : throw new ModelFormatException(path, "missing 'intermediate_size'")),
            NumHiddenLayers = layers,
            NumAttentionHeads = heads,
            NumKeyValueHeads = r.Int("num_key_value_heads") ?? heads,
            HeadDim = r.Int("head_dim") ?? hidden / Math.Max(1, heads),
            VocabSize = r.RequiredInt("vocab_size"),
            MaxPositionEmbeddings = r.Int("max_position_embeddings") ?? 32768,
            RopeTheta = r.Double("rope_theta") ?? 10000,
            RmsNormEps = r.Double("rms_norm_eps") ?? 1e-6,
            TieWordEmbeddings = r.Bool("tie_word_embeddings") ?? false,
            AttentionBias = isQwen3 ? r.Bool("attention_bias") ?? false : true,
            QkNorm = isQwen3,
            RopeScaling = ParseRopeScaling(path, o["rope_scaling"]),
            NumExperts = isMoe ? r.Int("num_experts") ?? throw new ModelFormatException(path, "missing 'num_experts'") : 0,
            NumExpertsPerTok = isMoe ? r.RequiredInt("num_experts_per_tok") : 0,
            MoeIntermediateSize = isMoe ? r.RequiredInt("moe_intermediate_size") : 0,
            SharedExpertIntermediateSize = r.Int("shared_expert_intermediate_size") ?? 0,
            NormTopkProb = r.Bool("norm_topk_prob") ?? false,
            DecoderSparseStep = r.Int("decoder_sparse_step") ?? 1,
            MlpOnlyLayers = r.IntArray("mlp_only_layers") ?? [],
            TorchDtype = r.String("torch_dtype") ?? r.String("dtype"),
        };
        cfg.Validate(path);
        return cfg;
    }

    static RopeScaling? ParseRopeScaling(string path, JsonNode? node)
    {
        if (node is null) return null;
        if (node is not JsonObject o) throw new ModelFormatException(path, "'rope_scaling' is not an object");
        var r = new JsonFields(path, o, "rope_scaling.");
        string? type = r.String("rope_type") ?? r.String("type");
        if (type is null or "default") return null;
        if (type is not ("yarn" or "linear"))
            throw new ModelFormatException(path, $"rope_scaling type '{type}' is not supported (supported: yarn, linear)");
        double factor = r.Double("factor") ?? throw new ModelFormatException(path, "rope_scaling.factor is missing");
        if (!(factor > 0)) throw new ModelFormatException(path, $"rope_scaling.factor {factor} must be positive");
        return new RopeScaling(type, factor, r.Int("original_max_position_embeddings"),
            r.Double("beta_fast") ?? 32, r.Double("beta_slow") ?? 1, r.Double("attention_factor"));
    }

    /// <summary>Reads the configuration from GGUF metadata (llama.cpp's keys).</summary>
    public static ModelConfig FromGguf(GgufFile g)
    {
        string arch = g.GetString("general.architecture") ?? throw new ModelFormatException(g.Path, "missing metadata 'general.architecture'");
        string modelType = arch switch
        {
            "qwen2" => "qwen2", "qwen3" => "qwen3", "qwen2moe" => "qwen2_moe", "qwen3moe" => "qwen3_moe",
            _ => throw new ModelFormatException(g.Path, $"unsupported architecture '{arch}' (supported: qwen2, qwen3, qwen2moe, qwen3moe)"),
        };
        int Req(string key) => (int)(g.GetInteger($"{arch}.{key}") ?? throw new ModelFormatException(g.Path, $"missing metadata '{arch}.{key}'"));
        int? Opt(string key) => g.GetInteger($"{arch}.{key}") is long v ? (int)v : null;

        int hidden = Req("embedding_length");
        int heads = Req("attention.head_count");
        if (!g.TryGetTensor("token_embd.weight", out var embd)) throw new ModelFormatException(g.Path, "missing tensor 'token_embd.weight'");
        bool isMoe = arch.EndsWith("moe", StringComparison.Ordinal);
        bool isQwen3 = arch.StartsWith("qwen3", StringComparison.Ordinal);
        RopeScaling? rope = null;
        string? scalingType = g.GetString($"{arch}.rope.scaling.type");
        if (scalingType is not null and not "none")
        {
            if (scalingType is not ("yarn" or "linear"))
                throw new ModelFormatException(g.Path, $"{arch}.rope.scaling.type '{scalingType}' is not supported (supported: yarn, linear)");
            double factor = g.GetFloat($"{arch}.rope.scaling.factor") ?? throw new ModelFormatException(g.Path, $"missing metadata '{arch}.rope.scaling.factor'");
            rope = new RopeScaling(scalingType, factor, Opt("rope.scaling.original_context_length"));
        }
        var cfg = new ModelConfig
        {
            ModelType = modelType,
            HiddenSize = hidden,
            IntermediateSize = Opt("feed_forward_length") ?? 0,
            NumHiddenLayers = Req("block_count"),
            NumAttentionHeads = heads,
            NumKeyValueHeads = Opt("attention.head_count_kv") ?? heads,
            HeadDim = Opt("attention.key_length") ?? hidden / Math.Max(1, heads),
            VocabSize = (int)embd.Shape[0],
            MaxPositionEmbeddings = Opt("context_length") ?? 32768,
            RopeTheta = g.GetFloat($"{arch}.rope.freq_base") ?? 10000,
            RmsNormEps = g.GetFloat($"{arch}.attention.layer_norm_rms_epsilon") ?? 1e-6,
            TieWordEmbeddings = !g.TryGetTensor("output.weight", out _),
            AttentionBias = g.TryGetTensor("blk.0.attn_q.bias", out _),
            QkNorm = isQwen3,
            RopeScaling = rope,
            NumExperts = isMoe ? Req("expert_count") : 0,
            NumExpertsPerTok = isMoe ? Req("expert_used_count") : 0,
            MoeIntermediateSize = isMoe ? Req("expert_feed_forward_length") : 0,
            SharedExpertIntermediateSize = Opt("expert_shared_feed_forward_length") ?? 0,
            // llama.cpp: qwen3moe always renormalizes the top-k weights, qwen2moe never does.
            NormTopkProb = arch == "qwen3moe",
        };
        cfg.Validate(g.Path);
        return cfg;
    }

    void Validate(string path)
    {
        void Check(bool ok, string problem) { if (!ok) throw new ModelFormatException(path, problem); }
        Check(HiddenSize > 0 && HiddenSize <= 1 << 16, $"hidden_size {HiddenSize} is out of range");
        Check(NumHiddenLayers > 0 && NumHiddenLayers <= 1024, $"num_hidden_layers {NumHiddenLayers} is out of range");
        Check(NumAttentionHeads > 0 && NumAttentionHeads <= 1024, $"num_attention_heads {NumAttentionHeads} is out of range");
        Check(NumKeyValueHeads > 0 && NumAttentionHeads % NumKeyValueHeads == 0,
            $"num_attention_heads {NumAttentionHeads} is not a multiple of num_key_value_heads {NumKeyValueHeads}");
        Check(HeadDim > 0 && HeadDim % 2 == 0 && HeadDim <= 1024, $"head_dim {HeadDim} must be even and at most 1024");
        Check(VocabSize > 0 && VocabSize <= 1 << 24, $"vocab_size {VocabSize} is out of range");
        Check(IsMoe || IntermediateSize > 0, "intermediate_size must be positive");
        Check(MaxPositionEmbeddings > 0, $"max_position_embeddings {MaxPositionEmbeddings} must be positive");
        Check(RmsNormEps > 0 && RopeTheta > 0, "rms_norm_eps and rope_theta must be positive");
        if (IsMoe)
        {
            Check(NumExpertsPerTok > 0 && NumExpertsPerTok <= NumExperts, $"num_experts_per_tok {NumExpertsPerTok} must be in 1..num_experts ({NumExperts})");
            Check(MoeIntermediateSize > 0, "moe_intermediate_size must be positive");
        }
    }

    /// <summary>Reads typed fields of a JSON object, naming the file and field when one has the wrong type.</summary>
    internal readonly struct JsonFields(string path, JsonObject o, string prefix = "")
    {
        ModelFormatException Bad(string key, string expected) => new(path, $"'{prefix}{key}' must be {expected}, got {o[key]?.ToJsonString()}");

        public string? String(string key) => o[key] switch
        {
            null => null,
            JsonValue v when v.TryGetValue(out string? s) => s,
            _ => throw Bad(key, "a string"),
        };

        public int? Int(string key)
        {
            var n = o[key];
            if (n is null) return null;
            if (n is JsonValue v)
            {
                if (v.TryGetValue(out int i)) return i;
                if (v.TryGetValue(out double d) && d == Math.Floor(d) && Math.Abs(d) < int.MaxValue) return (int)d;
            }
            throw Bad(key, "an integer");
        }

        public int RequiredInt(string key) => Int(key) ?? throw new ModelFormatException(path, $"missing '{prefix}{key}'");

        public double? Double(string key)
        {
            var n = o[key];
            if (n is null) return null;
            if (n is JsonValue v && v.TryGetValue(out double d)) return d;
            throw Bad(key, "a number");
        }

        public bool? Bool(string key)
        {
            var n = o[key];
            if (n is null) return null;
            if (n is JsonValue v && v.TryGetValue(out bool b)) return b;
            throw Bad(key, "true or false");
        }

        public int[]? IntArray(string key)
        {
            var n = o[key];
            if (n is null) return null;
            if (n is not JsonArray a) throw Bad(key, "an array of integers");
            var r = new int[a.Count];
            for (int i = 0; i < a.Count; i++)
                r[i] = a[i] is JsonValue v && v.TryGetValue(out int x) ? x : throw Bad(key, "an array of integers");
            return r;
        }
    }
}
