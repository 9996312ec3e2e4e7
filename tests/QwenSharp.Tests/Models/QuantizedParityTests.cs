using QwenSharp.Formats;
using QwenSharp.Models;
using QwenSharp.Tensors;
using QwenSharp.Tensors.Quantization;
using Xunit.Abstractions;

namespace QwenSharp.Tests.Models;

/// <summary>
/// Quantized GGUF files made by llama.cpp's quantizer: our logits against llama.cpp's on the same file
/// (cosine ≥ 0.999 at every position, same argmax at ≥ 98% of positions), and our quantizers against the
/// bytes / the error of llama.cpp's on the same weights.
/// </summary>
public class QuantizedParityTests(ITestOutputHelper output)
{
    static string LocalDir => Path.Combine(TestPaths.Fixtures, "quantized", "qwen3-tiny");

    public static TheoryData<string> LocalTypes => new("Q8_0", "Q4_0", "Q4_K_M", "Q6_K");

    [Theory]
    [MemberData(nameof(LocalTypes))]
    public void LocalQuantizedGgufMatchesLlamaCpp(string type) =>
        CheckParity(Path.Combine(LocalDir, $"qwen3-tiny-{type}.gguf"), Path.Combine(LocalDir, $"logits-llamacpp-{type}.json"), $"qwen3-tiny {type}");

    /// <summary>
    /// The portable Vector128 kernels (the ARM64 path; run here through the same cross-platform API) on every local
    /// quantized file: parity with llama.cpp, and logits bit-identical to the AVX2 kernels' where this CPU has them.
    /// </summary>
    [Theory]
    [MemberData(nameof(LocalTypes))]
    public void Vector128KernelsMatchLlamaCppAndAvx2BitForBit(string type)
    {
        string gguf = Path.Combine(LocalDir, $"qwen3-tiny-{type}.gguf");
        CheckParity(gguf, Path.Combine(LocalDir, $"logits-llamacpp-{type}.json"), $"qwen3-tiny {type}, vector128 kernels", new ModelLoadOptions { Kernels = KernelPath.Vector128 });
        if (KernelPaths.Best != KernelPath.Avx2) return;
        using var portable = QwenModel.Load(gguf, new ModelLoadOptions { Kernels = KernelPath.Vector128 });
        using var avx2 = QwenModel.Load(gguf, new ModelLoadOptions { Kernels = KernelPath.Avx2 });
        static KernelPath PathOf(QwenModel m) => ((DenseMlp)m.Layers[0].Mlp).DownProj.Weight switch
        {
            Block32Matrix b => b.KernelPath,
            InterleavedKQuantMatrix k => k.KernelPath,
            var w => throw new InvalidOperationException($"unexpected {w.GetType().Name}"),
        };
        Assert.Equal(KernelPath.Vector128, PathOf(portable));
        Assert.Equal(KernelPath.Avx2, PathOf(avx2));
        foreach (var s in Reference.Logits(Path.Combine(LocalDir, $"logits-llamacpp-{type}.json")))
            Assert.Equal(Reference.Run(avx2, s.Tokens), Reference.Run(portable, s.Tokens));
    }

    void CheckParity(string gguf, string reference, string label, ModelLoadOptions? options = null)
    {
        using var model = QwenModel.Load(gguf, options);
        int positions = 0, agree = 0;
        foreach (var s in Reference.Logits(reference))
        {
            var mine = Reference.Run(model, s.Tokens);
            var (maxAbs, minCos, a) = Reference.Compare(mine, s.Logits);
            output.WriteLine($"{label}, {s.Name}: max abs {maxAbs:e2}, min cos {minCos:f6}, argmax {a}/{s.Tokens.Length}");
            Assert.True(minCos >= 0.999, $"{label}/{s.Name}: min cosine {minCos} < 0.999");
            positions += s.Tokens.Length;
            agree += a;
        }
        Assert.True(agree >= 0.98 * positions, $"{label}: argmax agrees at {agree}/{positions} positions (< 98%)");
    }

    [Fact]
    public void OnTheFlyQ8_0FromSafetensorsMatchesLlamaCppQ8_0File()
    {
        using var model = QwenModel.Load(Path.Combine(TestPaths.Fixtures, "models", "qwen3-tiny"), new ModelLoadOptions { Quantize = GgmlType.Q8_0 });
        Assert.Equal(GgmlType.Q8_0, model.Layers[0].Mlp is DenseMlp d ? d.DownProj.Weight.Type : GgmlType.F32);
        int positions = 0, agree = 0;
        foreach (var s in Reference.Logits(Path.Combine(LocalDir, "logits-llamacpp-Q8_0.json")))
        {
            var (maxAbs, minCos, a) = Reference.Compare(Reference.Run(model, s.Tokens), s.Logits);
            output.WriteLine($"--quantize q8_0 vs llama.cpp Q8_0 file, {s.Name}: max abs {maxAbs:e2}, min cos {minCos:f6}, argmax {a}/{s.Tokens.Length}");
            Assert.True(minCos >= 0.999, $"{s.Name}: min cosine {minCos}");
            positions += s.Tokens.Length; agree += a;
        }
        Assert.True(agree >= 0.98 * positions);
    }

    [Theory]
    [InlineData(GgmlType.Q4_0)]
    [InlineData(GgmlType.Q4_1)]
    [InlineData(GgmlType.Q5_0)]
    [InlineData(GgmlType.Q5_1)]
    [InlineData(GgmlType.Q4_K)]
    [InlineData(GgmlType.Q5_K)]
    [InlineData(GgmlType.Q6_K)]
    public void OnTheFlyQuantizationStaysCloseToFloat(GgmlType type)
    {
        string dir = Path.Combine(TestPaths.Fixtures, "models", "qwen3-tiny");
        using var model = QwenModel.Load(dir, new ModelLoadOptions { Quantize = type });
        Assert.Equal(type, model.Layers[0].SelfAttn.QProj.Weight.Type);
        var s = Reference.Logits(Path.Combine(dir, "reference", "logits-numpy.json"))[0];
        var (maxAbs, minCos, a) = Reference.Compare(Reference.Run(model, s.Tokens), s.Logits);
        output.WriteLine($"--quantize {type} vs float reference: max abs {maxAbs:e2}, min cos {minCos:f6}, argmax {a}/{s.Tokens.Length}");
        // The tiny random models lose a lot to 4-bit quantization (fixtures README: cosine 0.95-0.97 vs float for Q4_0/Q4_K_M).
        Assert.True(minCos >= 0.9, $"{type}: min cosine {minCos} vs the float reference");
    }

    [Theory]
    [MemberData(nameof(LocalTypes))]
    public unsafe void QuantizeCommandOutputMatchesLlamaCppFile(string scheme)
    {
        // Same tensor types as llama.cpp's quantizer picked, bytes identical for Q8_0/Q4_0, and llama.cpp-level logits.
        string hf = Path.Combine(TestPaths.Fixtures, "models", "qwen3-tiny");
        var cfg = ModelConfig.FromConfigJson(Path.Combine(hf, "config.json"));
        string path = Path.Combine(TestPaths.NewTempDir(), $"ours-{scheme}.gguf");
        using (var src = WeightSource.OpenSafetensors(hf))
            GgufExport.Write(cfg, src, path, new QuantizedEncoder(scheme, cfg.NumHiddenLayers, hasOutputTensor: !cfg.TieWordEmbeddings), "qwen3-tiny");
        using (var ours = new GgufFile(path))
        using (var theirs = new GgufFile(Path.Combine(LocalDir, $"qwen3-tiny-{scheme}.gguf")))
        {
            int identical = 0;
            foreach (var t in theirs.Tensors)
            {
                Assert.True(ours.TryGetTensor(t.Name, out var o), $"{t.Name} missing");
                Assert.True(t.Type == o.Type, $"{t.Name}: ours {o.Type}, llama.cpp {t.Type}");
                Assert.Equal(t.Shape, o.Shape);
                bool same = new ReadOnlySpan<byte>(ours.DataPointer(o), (int)o.ByteSize).SequenceEqual(new ReadOnlySpan<byte>(theirs.DataPointer(t), (int)t.ByteSize));
                if (same) identical++;
                if (t.Type is GgmlType.Q8_0 or GgmlType.Q4_0) Assert.True(same, $"{t.Name} ({t.Type}) bytes differ");
            }
            output.WriteLine($"{scheme}: {identical}/{theirs.Tensors.Count} tensors byte-identical to llama.cpp's file");
        }
        CheckParity(path, Path.Combine(LocalDir, $"logits-llamacpp-{scheme}.json"), $"our {scheme} file");
    }

    [Theory]
    [InlineData("Q8_0", KvCacheType.F16)]
    [InlineData("Q4_K_M", KvCacheType.Q8_0)]
    public void DecodeLoopAllocatesNothing(string type, KvCacheType kv)
    {
        using var model = QwenModel.Load(Path.Combine(LocalDir, $"qwen3-tiny-{type}.gguf"));
        using var cache = model.CreateKvCache(64, kv);
        using var seq = cache.CreateSequence();
        using var ctx = model.CreateContext();
        var batch = new ForwardBatch();
        var logits = new float[model.Config.VocabSize];
        batch.AddSequence(seq, [1, 2, 3, 4, 5]);
        model.Forward(ctx, batch, logits);
        void Step(int token)
        {
            batch.Clear();
            batch.Add(seq, token, seq.Length, wantLogits: true);
            model.Forward(ctx, batch, logits);
        }
        for (int i = 0; i < 3; i++) Step(7 + i); // warm up (JIT, scratch sized)
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 20; i++) Step(11 + i);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated == 0, $"{allocated} bytes allocated in 20 decode steps");
    }

    [Fact]
    public void Q8_0KvCacheStaysCloseToF32()
    {
        using var model = QwenModel.Load(Path.Combine(TestPaths.Fixtures, "models", "qwen3-tiny"));
        var s = Reference.Logits(Path.Combine(TestPaths.Fixtures, "models", "qwen3-tiny", "reference", "logits-numpy.json"))[2];
        var (maxAbs, minCos, agree) = Reference.Compare(Reference.Run(model, s.Tokens, KvCacheType.Q8_0), s.Logits);
        output.WriteLine($"Q8_0 KV cache vs float reference, {s.Name}: max abs {maxAbs:e2}, min cos {minCos:f6}, argmax {agree}/{s.Tokens.Length}");
        Assert.True(minCos >= 0.999, $"min cosine {minCos}");
    }

    public static TheoryData<string, string> SharedQuantizedGgufs()
    {
        var data = new TheoryData<string, string>();
        if (TestPaths.SharedFixtures is not { } root) { data.Add("none", "none"); return data; }
        foreach (var dir in Directory.GetDirectories(Path.Combine(root, "models")).Order())
            foreach (var t in new[] { "Q8_0", "Q4_0", "Q4_K_M", "Q6_K" })
                if (File.Exists(Path.Combine(dir, "gguf", $"{Path.GetFileName(dir)}-{t}.gguf"))) data.Add(Path.GetFileName(dir), t);
        return data;
    }

    [SharedFixtureTheory]
    [MemberData(nameof(SharedQuantizedGgufs))]
    public void SharedQuantizedGgufMatchesLlamaCpp(string name, string type)
    {
        string dir = Path.Combine(TestPaths.SharedFixtures!, "models", name);
        CheckParity(Path.Combine(dir, "gguf", $"{name}-{type}.gguf"), Path.Combine(dir, "reference", $"logits-llamacpp-{type}.json"), $"{name} {type}");
    }

    /// <summary>The F16 weights llama.cpp quantized, written by our exporter from the same bf16 safetensors.</summary>
    static GgufFile ExportF16()
    {
        string path = Path.Combine(TestPaths.NewTempDir(), "qwen3-tiny-F16.gguf");
        ParityTests.ExportGguf(Path.Combine(TestPaths.Fixtures, "models", "qwen3-tiny"), path, GgmlType.F16);
        return new GgufFile(path);
    }

    static unsafe float[] Floats(GgufFile f, GgufTensorInfo t)
    {
        long cols = t.Shape[^1], rows = t.Elements / cols;
        var v = new float[t.Elements];
        MatrixFactory.Dequantize(t.Type, f.DataPointer(t), rows, (int)cols, v, t.Name);
        return v;
    }

    [Theory]
    [InlineData("Q8_0")]
    [InlineData("Q4_0")]
    public unsafe void QuantizerReproducesLlamaCppBytes(string fileType)
    {
        using var f16 = ExportF16();
        using var quant = new GgufFile(Path.Combine(LocalDir, $"qwen3-tiny-{fileType}.gguf"));
        int compared = 0;
        foreach (var t in quant.Tensors)
        {
            if (t.Type is not (GgmlType.Q8_0 or GgmlType.Q4_0)) continue;
            Assert.True(f16.TryGetTensor(t.Name, out var src));
            var x = Floats(f16, src);
            var mine = new byte[t.ByteSize];
            long cols = t.Shape[^1], rowBytes = GgmlTypeInfo.RowBytes(t.Type, cols);
            fixed (float* xp = x) fixed (byte* d = mine)
                for (long r = 0; r < t.Elements / cols; r++) BlockQuantizer.Row(t.Type, xp + r * cols, d + r * rowBytes, (int)cols);
            var theirs = new ReadOnlySpan<byte>(quant.DataPointer(t), checked((int)t.ByteSize));
            int diff = 0;
            for (int i = 0; i < mine.Length; i++) if (mine[i] != theirs[i]) diff++;
            Assert.True(diff == 0, $"{t.Name} ({t.Type}): {diff} of {mine.Length} bytes differ from llama.cpp's");
            compared++;
        }
        Assert.True(compared > 0);
        output.WriteLine($"{fileType}: {compared} tensors byte-identical");
    }

    [Theory]
    [InlineData("Q4_K_M")]
    [InlineData("Q6_K")]
    public unsafe void KQuantizerErrorNoWorseThanLlamaCpp(string fileType)
    {
        using var f16 = ExportF16();
        using var quant = new GgufFile(Path.Combine(LocalDir, $"qwen3-tiny-{fileType}.gguf"));
        int compared = 0;
        foreach (var t in quant.Tensors)
        {
            if (t.Type is not (GgmlType.Q4_K or GgmlType.Q6_K)) continue;
            Assert.True(f16.TryGetTensor(t.Name, out var src));
            var x = Floats(f16, src);
            var theirs = Floats(quant, t);
            long cols = t.Shape[^1], rows = t.Elements / cols, rowBytes = GgmlTypeInfo.RowBytes(t.Type, cols);
            var q = new byte[rows * rowBytes];
            var mine = new float[x.Length];
            fixed (float* xp = x) fixed (byte* d = q)
            {
                for (long r = 0; r < rows; r++) BlockQuantizer.Row(t.Type, xp + r * cols, d + r * rowBytes, (int)cols);
                MatrixFactory.Dequantize(t.Type, d, rows, (int)cols, mine, t.Name);
            }
            double eMine = 0, eTheirs = 0;
            for (int i = 0; i < x.Length; i++)
            {
                eMine += (mine[i] - x[i]) * (double)(mine[i] - x[i]);
                eTheirs += (theirs[i] - x[i]) * (double)(theirs[i] - x[i]);
            }
            output.WriteLine($"{t.Name} {t.Type}: squared error ours {eMine:e4}, llama.cpp {eTheirs:e4}");
            Assert.True(eMine <= eTheirs * 1.0001, $"{t.Name} ({t.Type}): our error {eMine} > llama.cpp's {eTheirs}");
            compared++;
        }
        Assert.True(compared > 0);
    }
}
