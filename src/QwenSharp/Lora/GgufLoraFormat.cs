using System.Text.RegularExpressions;
using QwenSharp.Formats;
using QwenSharp.Models;
using QwenSharp.Tensors;

namespace QwenSharp.Lora;

/// <summary>
/// GGUF LoRA files as llama.cpp writes (convert_lora_to_gguf.py) and reads them (llama-adapter.cpp):
/// general.type = "adapter", adapter.type = "lora", adapter.lora.alpha (f32), general.architecture of the
/// base model; tensors &lt;base tensor name&gt;.lora_a with row-major shape [r, in] and .lora_b [out, r]
/// (routed experts stacked: [experts, r, in] and [experts, out, r]). llama.cpp scales by alpha / r
/// (or 1 when alpha is 0); it has no rsLoRA, so an rsLoRA adapter is written with alpha · sqrt(r).
/// </summary>
internal static partial class GgufLoraFormat
{
    [GeneratedRegex(@"^blk\.(\d+)\.(.+)\.weight\.lora_(a|b)$")]
    private static partial Regex TensorRegex();

    static readonly string[] DenseSuffixes =
    [
        "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
        "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj",
        "mlp.shared_expert.gate_proj", "mlp.shared_expert.up_proj", "mlp.shared_expert.down_proj",
    ];

    public static unsafe LoraAdapter Read(string path, string? name)
    {
        using var gguf = new GgufFile(path);
        string type = gguf.GetString("general.type") ?? "";
        if (type != "adapter") throw new ModelFormatException(path, $"general.type is '{type}', not 'adapter': this is not a LoRA file");
        string adapterType = gguf.GetString("adapter.type") ?? "";
        if (adapterType != "lora") throw new ModelFormatException(path, $"adapter.type is '{adapterType}', not 'lora'");
        double alpha = gguf.GetFloat("adapter.lora.alpha") ?? 0;

        var pairs = new SortedDictionary<string, (GgufTensorInfo? A, GgufTensorInfo? B)>(StringComparer.Ordinal);
        foreach (var t in gguf.Tensors)
        {
            if (t.Name.EndsWith("_norm.weight", StringComparison.Ordinal)) continue; // llama.cpp ignores these too
            var m = TensorRegex().Match(t.Name);
            if (!m.Success) throw new ModelFormatException(path, $"tensor '{t.Name}' is not a LoRA tensor (expected blk.N.<name>.weight.lora_a / .lora_b)");
            string key = $"blk.{m.Groups[1].Value}.{m.Groups[2].Value}.weight";
            pairs.TryGetValue(key, out var p);
            pairs[key] = m.Groups[3].Value == "a" ? (t, p.B) : (p.A, t);
        }
        if (pairs.Count == 0) throw new ModelFormatException(path, "holds no LoRA tensors");

        var modules = new List<LoraWeights>();
        int rank0 = 0;
        var targets = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var (baseName, (a, b)) in pairs)
        {
            if (a is null || b is null) throw new ModelFormatException(path, $"LoRA tensor pair for '{baseName}' is missing lora_{(a is null ? "a" : "b")}");
            int layer = int.Parse(baseName.Split('.')[1]);
            bool stacked = a.Shape.Length == 3;
            if (a.Shape.Length != b.Shape.Length || a.Shape.Length is not (2 or 3))
                throw new ModelFormatException(path, $"'{baseName}': lora_a [{string.Join(", ", a.Shape)}] and lora_b [{string.Join(", ", b.Shape)}] do not form a LoRA pair");
            int r = (int)a.Shape[^2], inF = (int)a.Shape[^1], outF = (int)b.Shape[^2];
            if (b.Shape[^1] != r)
                throw new ModelFormatException(path, $"'{baseName}': lora_a has rank {r} but lora_b is [{string.Join(", ", b.Shape)}] (lora_a must be transposed as llama.cpp expects)");
            float scale = alpha == 0 ? 1f : (float)(alpha / r);
            rank0 = r;
            var am = MatrixFactory.Create(a.Type, gguf.DataPointer(a), (int)(a.Elements / inF), inF, a.Name);
            var bm = MatrixFactory.Create(b.Type, gguf.DataPointer(b), (int)(b.Elements / r), r, b.Name);
            if (stacked)
            {
                var em = Regex.Match(baseName, @"^blk\.\d+\.ffn_(gate|up|down)_exps\.weight$");
                if (!em.Success) throw new ModelFormatException(path, $"'{baseName}': 3-D LoRA tensors are only expected for stacked experts");
                int experts = (int)a.Shape[0];
                if (b.Shape[0] != experts) throw new ModelFormatException(path, $"'{baseName}': lora_a has {experts} experts, lora_b {b.Shape[0]}");
                for (int e = 0; e < experts; e++)
                {
                    string module = $"model.layers.{layer}.mlp.experts.{e}.{em.Groups[1].Value}_proj";
                    var w = new LoraWeights(module, r, inF, outF, scale);
                    for (int i = 0; i < r; i++) am.DequantizeRow(e * r + i, w.A.AsSpan(i * inF, inF));
                    for (int o = 0; o < outF; o++) bm.DequantizeRow(e * outF + o, w.B.AsSpan(o * r, r));
                    modules.Add(w);
                }
                targets.Add(em.Groups[1].Value + "_proj");
                continue;
            }
            string? hf = null;
            foreach (var s in DenseSuffixes)
            {
                string candidate = $"model.layers.{layer}.{s}";
                if (GgufSource.ToGgufName(candidate + ".weight") == baseName) { hf = candidate; break; }
            }
            if (hf is null) throw new ModelFormatException(path, $"LoRA tensor '{baseName}' is not a linear layer this library can adapt");
            var lw = new LoraWeights(hf, r, inF, outF, scale);
            for (int i = 0; i < r; i++) am.DequantizeRow(i, lw.A.AsSpan(i * inF, inF));
            for (int o = 0; o < outF; o++) bm.DequantizeRow(o, lw.B.AsSpan(o * r, r));
            modules.Add(lw);
            targets.Add(hf[(hf.LastIndexOf('.') + 1)..]);
        }
        var config = new LoraConfig
        {
            R = rank0,
            LoraAlpha = alpha == 0 ? rank0 : alpha,
            TargetModules = targets.ToArray(),
            BaseModelNameOrPath = gguf.GetString("general.base_model.0.repo_url") ?? gguf.GetString("general.basename"),
        };
        return new LoraAdapter(name ?? Path.GetFileNameWithoutExtension(path), config, modules, path);
    }

    public static void Write(LoraAdapter adapter, string path, ModelConfig baseModel)
    {
        adapter.Validate(baseModel);
        // llama.cpp has one alpha per file and scales each pair by alpha / rank: use it when every module
        // agrees on scale · rank; otherwise bake each module's scale into lora_b and write alpha 0 (scale 1).
        var values = adapter.Modules.Values.Select(m => (double)m.Scale * m.Rank).Distinct().ToArray();
        bool uniform = values.Length == 1;
        double alpha = uniform ? values[0] : 0;

        var w = new GgufWriter();
        w.Add("general.architecture", baseModel.GgufArchitecture);
        w.Add("general.type", "adapter");
        w.Add("general.name", adapter.Name);
        w.Add("general.file_type", 0u);
        w.Add("general.quantization_version", 2u);
        w.Add("adapter.type", "lora");
        w.Add("adapter.lora.alpha", (float)alpha);

        // Group routed experts into stacked tensors, as llama.cpp stores them.
        var groups = new SortedDictionary<string, SortedDictionary<int, LoraWeights>>(StringComparer.Ordinal);
        foreach (var m in adapter.Modules.Values)
        {
            var (g, expert) = LoraTargets.GgufName(m.Module);
            if (!groups.TryGetValue(g, out var list)) groups[g] = list = [];
            list[Math.Max(expert, 0)] = m;
        }
        foreach (var (g, members) in groups)
        {
            var first = members.Values.First();
            bool stacked = g.Contains("_exps.");
            if (stacked && (members.Count != baseModel.NumExperts || members.Keys.Last() != baseModel.NumExperts - 1))
                throw new ArgumentException($"{g}: an adapter for routed experts must cover all {baseModel.NumExperts} experts to be written as GGUF (it has {members.Count})");
            if (members.Values.Any(m => m.Rank != first.Rank))
                throw new ArgumentException($"{g}: experts of one stacked tensor must share a rank to be written as GGUF");
            int r = first.Rank, inF = first.InFeatures, outF = first.OutFeatures, e = members.Count;
            long[] shapeA = stacked ? [e, r, inF] : [r, inF];
            long[] shapeB = stacked ? [e, outF, r] : [outF, r];
            var a = new float[(long)e * r * inF];
            var b = new float[(long)e * outF * r];
            int k = 0;
            foreach (var m in members.Values)
            {
                m.A.CopyTo(a, (long)k * r * inF);
                float factor = uniform ? 1f : m.Scale;
                for (int i = 0; i < m.B.Length; i++) b[(long)k * outF * r + i] = m.B[i] * factor;
                k++;
            }
            w.AddTensor(g + ".lora_a", a, shapeA);
            w.AddTensor(g + ".lora_b", b, shapeB);
        }
        w.Write(path);
    }
}
