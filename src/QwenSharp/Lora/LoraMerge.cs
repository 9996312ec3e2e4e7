using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using QwenSharp.Formats;
using QwenSharp.Models;
using QwenSharp.Tensors;

namespace QwenSharp.Lora;

/// <summary>
/// Merges adapters into base weights: W' = W + Σ scale · B · A (what PEFT's merge_and_unload computes),
/// then writes a Hugging Face folder (model.safetensors, config.json, tokenizer and template files) or a
/// GGUF file. The merged model then runs without run-time LoRA.
/// </summary>
public static class LoraMerge
{
    /// <summary>A weight source whose adapted tensors are merged (f32, in memory); all others come from <paramref name="source"/>.</summary>
    public static WeightSource Merge(WeightSource source, ModelConfig config, params LoraAdapter[] adapters)
    {
        var merged = new MergedWeightSource(source);
        foreach (var adapter in adapters)
        {
            adapter.Validate(config);
            foreach (var w in adapter.Modules.Values) merged.Add(w);
        }
        return merged;
    }

    /// <summary>
    /// Loads the base model at <paramref name="modelPath"/> (a Hugging Face folder or a GGUF file), merges
    /// <paramref name="adapter"/> and writes the result to <paramref name="output"/>: a .gguf path gives a
    /// GGUF file, anything else a Hugging Face folder. <paramref name="type"/> is F32, F16 or BF16
    /// (default: the base model's torch_dtype for safetensors, F16 for GGUF).
    /// </summary>
    public static void MergeToDisk(string modelPath, LoraAdapter adapter, string output, GgmlType? type = null)
    {
        var (kind, file) = ModelPath.Resolve(modelPath);
        bool ggufOut = output.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase);
        if (type is { } t && t is not (GgmlType.F32 or GgmlType.F16 or GgmlType.BF16))
            throw new ArgumentException($"merged weights can be written as F32, F16 or BF16, not {t}");
        GgufFile? gguf = null;
        WeightSource? src = null;
        try
        {
            ModelConfig config;
            if (kind == ModelPath.Kind.Gguf)
            {
                gguf = new GgufFile(file);
                config = ModelConfig.FromGguf(gguf);
                src = WeightSource.OpenGguf(gguf);
                if (!ggufOut) throw new ArgumentException("a GGUF base model can only be merged into a GGUF file (give an --out path ending in .gguf)");
            }
            else
            {
                config = ModelConfig.FromConfigJson(Path.Combine(file, "config.json"));
                src = WeightSource.OpenSafetensors(file);
            }
            using var merged = (MergedWeightSource)Merge(src, config, adapter);
            string name = Path.GetFileNameWithoutExtension(Path.TrimEndingDirectorySeparator(Path.GetFullPath(output)));
            if (ggufOut)
            {
                var encoder = new GgufExport.FloatEncoder(type ?? GgmlType.F16);
                GgufExport.Write(config, merged, output, encoder, name, w =>
                {
                    if (gguf != null)
                    {
                        foreach (var (k, v) in gguf.Metadata)
                            if (k.StartsWith("tokenizer.", StringComparison.Ordinal)) w.Add(k, v);
                    }
                    else GgufTokenizerMetadata.AddFromHuggingFace(w, file, config.VocabSize);
                });
            }
            else
            {
                var dtype = type ?? (config.TorchDtype switch { "float32" => GgmlType.F32, "float16" => GgmlType.F16, _ => GgmlType.BF16 });
                WriteHuggingFace(config, merged, file, output, dtype);
            }
        }
        finally
        {
            src?.Dispose();
            gguf?.Dispose();
        }
    }

    /// <summary>Writes a Hugging Face folder: model.safetensors with every tensor in <paramref name="dtype"/>, plus the base folder's other files.</summary>
    public static unsafe void WriteHuggingFace(ModelConfig config, WeightSource weights, string baseDir, string outDir, GgmlType dtype)
    {
        Directory.CreateDirectory(outDir);
        var w = new SafetensorsWriter().AddMetadata("format", "pt");
        foreach (var (_, hfNames, _) in GgufExport.TensorPlan(config, weights))
            foreach (var n in hfNames)
            {
                var t = weights.Get(n);
                long rows = t.Shape.Length == 1 ? 1 : t.Shape[0], cols = t.Shape[^1];
                var m = MatrixFactory.Create(t.Type, t.Data, (int)rows, (int)cols, n);
                var values = new float[rows * cols];
                for (int r = 0; r < rows; r++) m.DequantizeRow(r, values.AsSpan((int)(r * cols), (int)cols));
                switch (dtype)
                {
                    case GgmlType.F32: w.AddF32(n, values, t.Shape); break;
                    case GgmlType.BF16: w.AddBF16(n, values, t.Shape); break;
                    case GgmlType.F16:
                        var h = new ushort[values.Length];
                        for (int i = 0; i < h.Length; i++) h[i] = Numerics.FloatToHalf(values[i]);
                        w.Add(n, "F16", t.Shape, MemoryMarshal.AsBytes(h.AsSpan()).ToArray());
                        break;
                    default: throw new ArgumentException($"cannot write {dtype} safetensors");
                }
            }
        w.Write(Path.Combine(outDir, "model.safetensors"));

        // Everything else from the base folder (config, tokenizer, template, generation config), except weights.
        foreach (var f in Directory.GetFiles(baseDir))
        {
            string name = Path.GetFileName(f);
            if (name.EndsWith(".safetensors", StringComparison.Ordinal) || name == "model.safetensors.index.json" || name.EndsWith(".bin", StringComparison.Ordinal) || name.StartsWith('.')) continue;
            string dst = Path.Combine(outDir, name);
            if (name == "config.json")
            {
                var o = JsonNode.Parse(File.ReadAllText(f))!.AsObject();
                o["torch_dtype"] = dtype switch { GgmlType.F32 => "float32", GgmlType.F16 => "float16", _ => "bfloat16" };
                AtomicWrite.Text(dst, o.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
            }
            else AtomicWrite.Bytes(dst, s => { using var i = File.OpenRead(f); i.CopyTo(s); });
        }
    }

    /// <summary>Adapted tensors merged to f32 in native memory; the rest passed through.</summary>
    sealed unsafe class MergedWeightSource(WeightSource inner) : WeightSource
    {
        readonly Dictionary<string, (nint Data, int Rows, int Cols)> _merged = new(StringComparer.Ordinal);

        public override string Location => inner.Location;
        public override IEnumerable<string> Names => inner.Names;

        public void Add(LoraWeights lw)
        {
            string name = lw.Module + ".weight";
            if (!_merged.TryGetValue(name, out var m))
            {
                var t = inner.Get(name);
                int rows = (int)t.Shape[0], cols = (int)t.Shape[1];
                var baseM = MatrixFactory.Create(t.Type, t.Data, rows, cols, name);
                var p = (float*)NativeMemory.AlignedAlloc((nuint)((long)rows * cols * 4), 64);
                for (int r = 0; r < rows; r++) baseM.DequantizeRow(r, new Span<float>(p + (long)r * cols, cols));
                m = ((nint)p, rows, cols);
                _merged[name] = m;
            }
            var data = (float*)m.Data;
            for (int r = 0; r < m.Rows; r++) lw.AddDeltaRow(r, new Span<float>(data + (long)r * m.Cols, m.Cols));
        }

        public override bool TryGet(string name, out TensorRef tensor)
        {
            if (_merged.TryGetValue(name, out var m))
            {
                tensor = new TensorRef(name, GgmlType.F32, [m.Rows, m.Cols], m.Data, (long)m.Rows * m.Cols * 4, inner.Location);
                return true;
            }
            return inner.TryGet(name, out tensor);
        }

        public override void Dispose()
        {
            foreach (var m in _merged.Values) NativeMemory.AlignedFree((void*)m.Data);
            _merged.Clear();
        }
    }
}
