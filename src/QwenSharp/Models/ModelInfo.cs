using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using QwenSharp.Tensors;

namespace QwenSharp.Models;

/// <summary>What `qwensharp info` shows: a summary of a loaded model.</summary>
public sealed record ModelInfo(
    string Source, string Architecture, long Parameters, long ActiveParameters, IReadOnlyDictionary<string, long> WeightTypes,
    long WeightBytes, int ContextLength, long KvBytesPerToken, ModelConfig Config)
{
    /// <summary>Weights plus an f16 KV cache for the full context of one sequence.</summary>
    public long MemoryForFullContext => WeightBytes + KvBytesPerToken * ContextLength;

    public static ModelInfo Describe(QwenModel m)
    {
        var c = m.Config;
        var types = new Dictionary<string, long>();
        long parameters = 0, active = 0, bytes = 0;
        var seen = new HashSet<Matrix>(ReferenceEqualityComparer.Instance);
        void Count(Matrix w, bool isActive = true)
        {
            if (!seen.Add(w)) return;
            long p = (long)w.Rows * w.Cols;
            parameters += p;
            if (isActive) active += p;
            bytes += w.ByteSize;
            var t = GgmlTypeInfo.Name(w.Type);
            types[t] = types.GetValueOrDefault(t) + p;
        }
        void Vec(float[]? v) { if (v != null) { parameters += v.Length; active += v.Length; bytes += v.Length * 4L; } }
        void Lin(Linear l, bool isActive = true) { Count(l.Weight, isActive); Vec(l.Bias); }
        void Dense(DenseMlp d, bool isActive = true) { Lin(d.GateProj, isActive); Lin(d.UpProj, isActive); Lin(d.DownProj, isActive); }

        Count(m.EmbedTokens);
        foreach (var layer in m.Layers)
        {
            Vec(layer.InputLayernorm); Vec(layer.PostAttentionLayernorm);
            var a = layer.SelfAttn;
            Lin(a.QProj); Lin(a.KProj); Lin(a.VProj); Lin(a.OProj); Vec(a.QNorm); Vec(a.KNorm);
            switch (layer.Mlp)
            {
                case DenseMlp d: Dense(d); break;
                case SparseMoeMlp moe:
                    Vec(moe.Router);
                    for (int e = 0; e < moe.Experts.Length; e++)
                    {
                        long before = active;
                        Dense(moe.Experts[e], isActive: false);
                    }
                    // Active: top-k experts' worth.
                    var e0 = moe.Experts[0];
                    active += moe.TopK * ((long)e0.GateProj.Weight.Rows * e0.GateProj.Weight.Cols * 3);
                    if (moe.SharedExpert != null) Dense(moe.SharedExpert);
                    Vec(moe.SharedExpertGate);
                    break;
            }
        }
        Vec(m.Norm);
        Count(m.LmHead);
        long kvPerToken = 2L * c.NumHiddenLayers * c.NumKeyValueHeads * c.HeadDim * 2;
        return new ModelInfo(m.Source, c.ModelType, parameters, active, types, bytes, c.MaxPositionEmbeddings, kvPerToken, c);
    }

    public static string FormatBytes(long b) => b switch
    {
        >= 1L << 30 => $"{b / (double)(1L << 30):0.00} GiB",
        >= 1L << 20 => $"{b / (double)(1L << 20):0.0} MiB",
        >= 1L << 10 => $"{b / 1024.0:0.0} KiB",
        _ => $"{b} B",
    };

    public string ToText()
    {
        var c = Config;
        var sb = new StringBuilder();
        sb.AppendLine($"source:          {Source}");
        sb.AppendLine($"architecture:    {Architecture}");
        sb.AppendLine($"parameters:      {Parameters:N0}" + (ActiveParameters != Parameters ? $" ({ActiveParameters:N0} active per token)" : ""));
        sb.AppendLine($"weight types:    {string.Join(", ", WeightTypes.OrderByDescending(kv => kv.Value).Select(kv => $"{kv.Key} {100.0 * kv.Value / Math.Max(1, WeightTypes.Values.Sum()):0.#}%"))}");
        sb.AppendLine($"layers:          {c.NumHiddenLayers}, hidden {c.HiddenSize}, heads {c.NumAttentionHeads} (kv {c.NumKeyValueHeads}), head_dim {c.HeadDim}");
        sb.AppendLine(c.IsMoe
            ? $"mlp:             {c.NumExperts} experts of {c.MoeIntermediateSize}, top {c.NumExpertsPerTok}" + (c.SharedExpertIntermediateSize > 0 ? $", shared expert {c.SharedExpertIntermediateSize}" : "")
            : $"mlp:             intermediate {c.IntermediateSize}");
        sb.AppendLine($"vocabulary:      {c.VocabSize}");
        sb.AppendLine($"context length:  {ContextLength}" + (c.RopeScaling is { } rs ? $" (rope scaling {rs.Type} x{rs.Factor})" : ""));
        sb.AppendLine($"weights:         {FormatBytes(WeightBytes)}");
        sb.AppendLine($"kv cache (f16):  {FormatBytes(KvBytesPerToken)} per token, {FormatBytes(KvBytesPerToken * ContextLength)} for the full context");
        sb.AppendLine($"memory needed:   {FormatBytes(MemoryForFullContext)} (weights + f16 KV cache for one full-length sequence)");
        return sb.ToString();
    }

    public string ToJson()
    {
        // Built as a JsonObject (no serialization by reflection: NativeAOT-safe), in the order `info --json` prints.
        var types = new JsonObject();
        foreach (var (k, v) in WeightTypes) types[k] = v;
        return new JsonObject
        {
            ["source"] = Source,
            ["architecture"] = Architecture,
            ["parameters"] = Parameters,
            ["active_parameters"] = ActiveParameters,
            ["weight_types"] = types,
            ["weight_bytes"] = WeightBytes,
            ["context_length"] = ContextLength,
            ["kv_bytes_per_token"] = KvBytesPerToken,
            ["memory_bytes"] = MemoryForFullContext,
            ["num_hidden_layers"] = Config.NumHiddenLayers,
            ["hidden_size"] = Config.HiddenSize,
            ["num_attention_heads"] = Config.NumAttentionHeads,
            ["num_key_value_heads"] = Config.NumKeyValueHeads,
            ["head_dim"] = Config.HeadDim,
            ["vocab_size"] = Config.VocabSize,
            ["num_experts"] = Config.NumExperts,
        }.ToJsonString();
    }
}
