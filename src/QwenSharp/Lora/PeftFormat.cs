using QwenSharp.Formats;
using QwenSharp.Tensors;

namespace QwenSharp.Lora;

/// <summary>
/// Hugging Face PEFT's adapter files: adapter_config.json and adapter_model.safetensors holding
/// base_model.model.&lt;module&gt;.lora_A.weight [r, in] and .lora_B.weight [out, r] per adapted module
/// (the adapter name is stripped on save), with safetensors metadata {"format": "pt"}.
/// </summary>
internal static unsafe class PeftFormat
{
    public const string Prefix = "base_model.model.";
    const string SuffixA = ".lora_A.weight", SuffixB = ".lora_B.weight";

    public static string TensorName(string module, bool a) => Prefix + module + (a ? SuffixA : SuffixB);

    public static LoraAdapter Read(string dir, string? name)
    {
        string configPath = Path.Combine(dir, LoraConfig.FileName);
        if (!File.Exists(configPath)) throw new ModelFormatException(dir, $"no {LoraConfig.FileName} in this folder");
        var config = LoraConfig.Read(configPath);
        string weights = Path.Combine(dir, LoraAdapter.WeightsFileName);
        if (!File.Exists(weights))
        {
            if (File.Exists(Path.Combine(dir, "adapter_model.bin")))
                throw new ModelFormatException(dir, "adapter_model.bin (pickle) is not supported; save the adapter with safe_serialization=True to get adapter_model.safetensors");
            throw new ModelFormatException(dir, $"no {LoraAdapter.WeightsFileName} in this folder");
        }

        var pairs = new SortedDictionary<string, (SafetensorsTensorInfo? A, SafetensorsTensorInfo? B)>(StringComparer.Ordinal);
        using var file = new SafetensorsFile(weights);
        foreach (var t in file.Tensors)
        {
            string n = t.Name;
            bool isA = n.EndsWith(SuffixA, StringComparison.Ordinal), isB = n.EndsWith(SuffixB, StringComparison.Ordinal);
            if (!isA && !isB || !n.StartsWith(Prefix, StringComparison.Ordinal))
                throw new ModelFormatException(weights, $"tensor '{n}' is not a LoRA weight (expected {Prefix}<module>.lora_A.weight / .lora_B.weight" +
                    (n.Contains("lora_embedding") || n.Contains("embed_tokens") || n.Contains("lm_head") ? "; adapters on the embedding or LM head are not supported" :
                     n.Contains("lora_magnitude_vector") ? "; DoRA is not supported" : "") + ")");
            string module = n[Prefix.Length..^(isA ? SuffixA.Length : SuffixB.Length)];
            // Multimodal Qwen checkpoints nest the language model; the decoder is the same.
            if (module.StartsWith("model.language_model.", StringComparison.Ordinal)) module = "model." + module["model.language_model.".Length..];
            pairs.TryGetValue(module, out var p);
            pairs[module] = isA ? (t, p.B) : (p.A, t);
        }
        if (pairs.Count == 0) throw new ModelFormatException(weights, "holds no LoRA tensors");

        var modules = new List<LoraWeights>();
        foreach (var (module, (a, b)) in pairs)
        {
            if (a is null || b is null) throw new ModelFormatException(weights, $"module '{module}' has lora_{(a is null ? "A" : "B")} missing");
            if (a.Shape.Length != 2 || b.Shape.Length != 2)
                throw new ModelFormatException(weights, $"module '{module}': lora_A and lora_B must be 2-D (got [{string.Join(", ", a.Shape)}] and [{string.Join(", ", b.Shape)}])");
            int r = (int)a.Shape[0], inF = (int)a.Shape[1], outF = (int)b.Shape[0];
            if (b.Shape[1] != r)
                throw new ModelFormatException(weights, $"module '{module}': lora_A is [{r}, {inF}] but lora_B is [{b.Shape[0]}, {b.Shape[1]}]; the ranks differ");
            if (r > LoraWeights.MaxRank) throw new ModelFormatException(weights, $"module '{module}': rank {r} is above the supported {LoraWeights.MaxRank}");
            var w = new LoraWeights(module, r, inF, outF, config.ScaleFor(module, r));
            ReadF32(file, a, w.A, weights);
            ReadF32(file, b, w.B, weights);
            modules.Add(w);
        }
        return new LoraAdapter(name ?? Path.GetFileName(Path.TrimEndingDirectorySeparator(dir)), config, modules, dir);
    }

    static void ReadF32(SafetensorsFile file, SafetensorsTensorInfo t, float[] dst, string path)
    {
        var type = t.Type ?? throw new ModelFormatException(path, $"tensor '{t.Name}' has dtype {t.DType}; LoRA weights must be F32, F16 or BF16");
        int rows = (int)t.Shape[0], cols = (int)t.Shape[1];
        var m = MatrixFactory.Create(type, file.DataPointer(t), rows, cols, t.Name);
        for (int r = 0; r < rows; r++) m.DequantizeRow(r, dst.AsSpan(r * cols, cols));
        foreach (var v in dst)
            if (!float.IsFinite(v)) throw new ModelFormatException(path, $"tensor '{t.Name}' holds a NaN or infinite value");
    }

    public static void Write(LoraAdapter adapter, string dir)
    {
        Directory.CreateDirectory(dir);
        var w = new SafetensorsWriter().AddMetadata("format", "pt");
        foreach (var m in adapter.Modules.Values)
        {
            w.AddF32(TensorName(m.Module, a: true), m.A, m.Rank, m.InFeatures);
            w.AddF32(TensorName(m.Module, a: false), m.B, m.OutFeatures, m.Rank);
        }
        w.Write(Path.Combine(dir, LoraAdapter.WeightsFileName));
        adapter.Config.Write(Path.Combine(dir, LoraConfig.FileName));
    }
}
