using QwenSharp.Formats;
using QwenSharp.Tensors;
using QwenSharp.Tensors.Quantization;

namespace QwenSharp.Models;

/// <summary>How to load a model.</summary>
public sealed record ModelLoadOptions
{
    /// <summary>
    /// Quantize float (F32/F16/BF16) weight matrices to this GGUF type at load: Q8_0, Q4_0, Q4_1, Q5_0, Q5_1,
    /// Q4_K, Q5_K or Q6_K (the .NET counterpart of load_in_8bit / load_in_4bit). Matrices whose rows are not a
    /// multiple of 256 fall back as llama.cpp's quantizer does (Q4_K → Q5_0, Q5_K → Q5_1, Q6_K → Q8_0).
    /// Already-quantized tensors are kept as they are. Null: keep the file's types.
    /// </summary>
    public GgmlType? Quantize { get; init; }

    /// <summary>
    /// Leave quantized weights where they lie in the file instead of repacking them at load: loading takes
    /// milliseconds and almost no memory, and each matrix is repacked when a forward pass first uses it (as
    /// mixture-of-experts weights always are). For inspecting a model (`qwensharp info`), not for running it.
    /// </summary>
    public bool DeferWeights { get; init; }

    /// <summary>
    /// Which kernels compute the quantized matrix products: <see cref="KernelPath.Auto"/> (the default) takes the
    /// <c>QWENSHARP_KERNELS</c> environment variable if set, else the fastest this CPU runs (AVX2 on x86-64, the portable
    /// Vector128 kernels on ARM64). The Vector128 kernels give bit-identical results to the AVX2 ones.
    /// </summary>
    public KernelPath Kernels { get; init; }

    /// <summary>
    /// Mixture-of-experts weights in K-quant types: true repacks each expert's matrices into the kernels' layout when a
    /// token first routes to it (fast; the expert then lives in private memory and the file's pages are dropped); false
    /// computes them where they lie in the mapped file (slower; pages the kernel can drop and re-read, for a model larger
    /// than memory). Null (the default): repack when the model's weights fit in the memory available at load.
    /// </summary>
    public bool? RepackExperts { get; init; }
}

public sealed unsafe partial class QwenModel
{
    /// <summary>
    /// Loads a model from a Hugging Face folder (config.json + safetensors) or a GGUF file (or a folder
    /// holding exactly one .gguf). Float weights stay memory-mapped and are computed in place; quantized
    /// weights are repacked into native memory for the kernels, their mapped pages dropped as that happens
    /// (mixture-of-experts weights stay mapped, see <see cref="Tensors.MatrixFactory.Create"/>); small
    /// vectors (norms, biases, the MoE router) are copied.
    /// </summary>
    public static QwenModel Load(string path, ModelLoadOptions? options = null)
    {
        var (kind, file) = ModelPath.Resolve(path);
        if (kind == ModelPath.Kind.Gguf)
        {
            var gguf = new GgufFile(file);
            List<IDisposable> owned = [gguf];
            try
            {
                var config = ModelConfig.FromGguf(gguf);
                var source = WeightSource.OpenGguf(gguf);
                return Build(config, source, owned, options ?? new());
            }
            catch
            {
                // Also frees weights already repacked into native memory.
                foreach (var d in owned) d.Dispose();
                throw;
            }
        }
        var cfg = ModelConfig.FromConfigJson(Path.Combine(file, "config.json"));
        var src = WeightSource.OpenSafetensors(file);
        List<IDisposable> ownedSt = [src];
        try { return Build(cfg, src, ownedSt, options ?? new()); }
        catch { foreach (var d in ownedSt) d.Dispose(); throw; }
    }

    /// <summary>Whether all of a source's tensors fit in the memory available now (MemAvailable: free plus reclaimable page cache).</summary>
    static bool WeightsFitInMemory(WeightSource src)
    {
        long bytes = 0;
        foreach (var n in src.Names)
            if (src.TryGet(n, out var t)) bytes += t.ByteSize;
        return bytes <= Catalog.MachineInfo.Detect().AvailableMemoryBytes;
    }

    /// <summary>Builds the model from a weight source (HF tensor names), checking every shape.</summary>
    public static QwenModel Build(ModelConfig c, WeightSource src, List<IDisposable> owned, ModelLoadOptions options)
    {
        int hidden = c.HiddenSize, hd = c.HeadDim;
        int qd = c.NumAttentionHeads * hd, kd = c.NumKeyValueHeads * hd;
        var released = new List<(nint Data, long Bytes)>();

        // sparse: a mixture-of-experts weight (see MatrixFactory.Create: not copied or repacked at load).
        bool? expertsInPlace = options.RepackExperts is bool repack ? !repack : null;
        Matrix Mat(string name, int rows, int cols, bool sparse = false)
        {
            if (sparse && expertsInPlace == null) expertsInPlace = !WeightsFitInMemory(src);
            sparse |= options.DeferWeights;
            var t = src.Get(name);
            if (t.Shape.Length != 2 || t.Shape[0] != rows || t.Shape[1] != cols)
                throw new ModelFormatException(t.FilePath, $"tensor '{name}' has shape [{string.Join(", ", t.Shape)}], expected [{rows}, {cols}]");
            bool isFloat = t.Type is GgmlType.F32 or GgmlType.F16 or GgmlType.BF16;
            var m = options.Quantize is GgmlType target && isFloat
                ? OnTheFlyQuantizer.Quantize(t.Type, t.Data, rows, cols, target, name, options.Kernels)
                : MatrixFactory.Create(t.Type, t.Data, rows, cols, name, sparse, dataIsMapped: true, options.Kernels, sparseInPlace: expertsInPlace == true);
            if (m.OwnsMemory)
            {
                owned.Add((IDisposable)m);
                // Repacked or requantized into native memory: the mapped pages are not needed any more
                // (a lazily repacked matrix releases them itself once it has repacked).
                if (!m.NeedsPrepare) ReleaseSource((nint)t.Data, t.ByteSize);
            }
            return m;
        }

        // Drops the pages of a tensor copied out of the mapping (repacked, or read into an array) from the process. The page cache may hold the file in 2 MiB folios, mapped
        // whole when any byte of one is read; reading this tensor then brought back the tails of neighbours released
        // before, so those parts of neighbours within this tensor's 2 MiB windows are released again.
        void ReleaseSource(nint data, long bytes)
        {
            const long huge = 1 << 21;
            NativeMemoryHelper.ReleaseMapped((void*)data, bytes);
            long lo = data / huge * huge, hi = (data + bytes + huge - 1) / huge * huge;
            foreach (var (d, b) in released)
            {
                long s = Math.Max(d, lo), e = Math.Min(d + b, hi);
                if (s < e) NativeMemoryHelper.ReleaseMapped((void*)s, e - s);
            }
            released.Add((data, bytes));
        }

        float[] Vec(string name, int length)
        {
            var t = src.Get(name);
            if (t.Elements != length)
                throw new ModelFormatException(t.FilePath, $"tensor '{name}' has shape [{string.Join(", ", t.Shape)}], expected {length} elements");
            var v = new float[length];
            MatrixFactory.Dequantize(t.Type, t.Data, 1, length, v, name);
            ReleaseSource((nint)t.Data, t.ByteSize);
            return v;
        }

        float[]? OptVec(string name, int length) => src.TryGet(name, out _) ? Vec(name, length) : null;

        Linear Lin(string prefix, int outF, int inF, bool bias, bool sparse = false) =>
            new(Mat(prefix + ".weight", outF, inF, sparse), bias ? Vec(prefix + ".bias", outF) : OptVec(prefix + ".bias", outF));

        DenseMlp Dense(string prefix, int inter, bool sparse = false) => new()
        {
            GateProj = Lin(prefix + ".gate_proj", inter, hidden, false, sparse),
            UpProj = Lin(prefix + ".up_proj", inter, hidden, false, sparse),
            DownProj = Lin(prefix + ".down_proj", hidden, inter, false, sparse),
        };

        var embed = Mat("model.embed_tokens.weight", c.VocabSize, hidden);
        var layers = new DecoderLayer[c.NumHiddenLayers];
        for (int l = 0; l < layers.Length; l++)
        {
            string p = $"model.layers.{l}";
            var attn = new AttentionWeights
            {
                QProj = Lin(p + ".self_attn.q_proj", qd, hidden, c.AttentionBias),
                KProj = Lin(p + ".self_attn.k_proj", kd, hidden, c.AttentionBias),
                VProj = Lin(p + ".self_attn.v_proj", kd, hidden, c.AttentionBias),
                OProj = Lin(p + ".self_attn.o_proj", hidden, qd, false),
                QNorm = c.QkNorm ? Vec(p + ".self_attn.q_norm.weight", hd) : null,
                KNorm = c.QkNorm ? Vec(p + ".self_attn.k_norm.weight", hd) : null,
            };
            Mlp mlp;
            if (c.IsSparseLayer(l))
            {
                var experts = new DenseMlp[c.NumExperts];
                for (int e = 0; e < experts.Length; e++) experts[e] = Dense($"{p}.mlp.experts.{e}", c.MoeIntermediateSize, sparse: true);
                bool hasShared = c.SharedExpertIntermediateSize > 0 && src.TryGet(p + ".mlp.shared_expert.gate_proj.weight", out _);
                var router = new float[c.NumExperts * hidden];
                var rt = src.Get(p + ".mlp.gate.weight");
                if (rt.Shape.Length != 2 || rt.Shape[0] != c.NumExperts || rt.Shape[1] != hidden)
                    throw new ModelFormatException(rt.FilePath, $"tensor '{p}.mlp.gate.weight' has shape [{string.Join(", ", rt.Shape)}], expected [{c.NumExperts}, {hidden}]");
                MatrixFactory.Dequantize(rt.Type, rt.Data, c.NumExperts, hidden, router, p + ".mlp.gate.weight");
                ReleaseSource((nint)rt.Data, rt.ByteSize);
                mlp = new SparseMoeMlp
                {
                    Router = router,
                    Experts = experts,
                    TopK = c.NumExpertsPerTok,
                    NormTopkProb = c.NormTopkProb,
                    SharedExpert = hasShared ? Dense(p + ".mlp.shared_expert", c.SharedExpertIntermediateSize) : null,
                    SharedExpertGate = hasShared ? Vec(p + ".mlp.shared_expert_gate.weight", hidden) : null,
                };
            }
            else
            {
                mlp = Dense(p + ".mlp", c.IntermediateSize);
            }
            layers[l] = new DecoderLayer
            {
                InputLayernorm = Vec(p + ".input_layernorm.weight", hidden),
                SelfAttn = attn,
                PostAttentionLayernorm = Vec(p + ".post_attention_layernorm.weight", hidden),
                Mlp = mlp,
            };
        }
        var norm = Vec("model.norm.weight", hidden);
        Matrix lmHead = c.TieWordEmbeddings || !src.TryGet("lm_head.weight", out _) ? embed : Mat("lm_head.weight", c.VocabSize, hidden);
        // Once more, now that nothing reads them, merging neighbours (GGUF pads tensors to 32 bytes) so the pages two
        // tensors share go too: page-cache huge pages straddling two tensors are mapped whole when the second tensor
        // is read, which brings back the tail of the first one released before.
        released.Sort((a, b) => a.Data.CompareTo(b.Data));
        for (int i = 0; i < released.Count;)
        {
            nint start = released[i].Data, end = start + (nint)released[i].Bytes;
            int j = i + 1;
            for (; j < released.Count && released[j].Data >= start && released[j].Data <= end + 64; j++)
                end = Math.Max(end, released[j].Data + (nint)released[j].Bytes);
            NativeMemoryHelper.ReleaseMapped((void*)start, end - start);
            i = j;
        }
        NativeMemoryHelper.TrimWeights();
        return new QwenModel(c, embed, layers, norm, lmHead, src.Location, owned);
    }
}

/// <summary>Tells what a model path points at.</summary>
public static class ModelPath
{
    public enum Kind { HuggingFace, Gguf }

    /// <summary>Resolves a path to a Hugging Face folder or a GGUF file; a clear error otherwise.</summary>
    public static (Kind Kind, string Path) Resolve(string path)
    {
        if (File.Exists(path))
        {
            if (path.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase) || IsGguf(path)) return (Kind.Gguf, path);
            if (Path.GetFileName(path) == "config.json") return (Kind.HuggingFace, Path.GetDirectoryName(Path.GetFullPath(path))!);
            throw new ModelFormatException(path, "not a GGUF file and not a model folder (expected a .gguf file or a folder with config.json)");
        }
        if (Directory.Exists(path))
        {
            if (File.Exists(System.IO.Path.Combine(path, "config.json"))) return (Kind.HuggingFace, path);
            var ggufs = Directory.GetFiles(path, "*.gguf");
            if (ggufs.Length == 1) return (Kind.Gguf, ggufs[0]);
            if (ggufs.Length > 1)
                throw new ModelFormatException(path, $"folder holds {ggufs.Length} .gguf files ({string.Join(", ", ggufs.Select(System.IO.Path.GetFileName))}); name one of them");
            throw new ModelFormatException(path, "folder has no config.json and no .gguf file");
        }
        throw new FileNotFoundException($"{path}: no such file or folder", path);
    }

    static bool IsGguf(string path)
    {
        using var f = File.OpenRead(path);
        Span<byte> magic = stackalloc byte[4];
        return f.Read(magic) == 4 && BitConverter.ToUInt32(magic) == GgufFile.Magic;
    }
}
