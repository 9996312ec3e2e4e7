using QwenSharp.Engine;
using QwenSharp.Formats;
using QwenSharp.Models;
using QwenSharp.Tensors;

namespace QwenSharp.Tests.Models;

/// <summary>
/// The mixture-of-experts block run grouped (all routed experts' products in a few pool dispatches) against
/// expert after expert: the same numbers, bit for bit, for float and quantized experts, any batch size and
/// thread count; and only the routed experts' weights are read.
/// </summary>
public unsafe class MoeDispatchTests
{
    static string Dir(string name) => Path.Combine(TestPaths.Fixtures, "models", name);

    static float[] RandomRows(int n, int hidden, int seed)
    {
        var rng = new Random(seed);
        var x = new float[n * hidden];
        for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
        return x;
    }

    static float[] Run(QwenModel model, ForwardContext ctx, SparseMoeMlp moe, float[] x, int n, bool grouped)
    {
        ctx.Ensure(n, 1);
        var y = new float[x.Length];
        y.AsSpan().Fill(float.NaN); // every element must be written
        fixed (float* px = x) fixed (float* py = y) model.RunMoe(ctx, moe, px, n, py, null, grouped);
        return y;
    }

    /// <summary>
    /// K-quant experts of a GGUF file are repacked when a token first routes to them (<see cref="ModelLoadOptions.RepackExperts"/>
    /// true, and by default when the model fits in memory), or computed in place in the mapped file (false); the logits agree.
    /// </summary>
    [Fact]
    public void KQuantExpertsRepackOnFirstUseOrStayInPlace()
    {
        string hf = Dir("qwen3moe-tiny");
        var cfg = ModelConfig.FromConfigJson(Path.Combine(hf, "config.json"));
        string path = Path.Combine(TestPaths.NewTempDir(), "moe-Q4_K_M.gguf");
        using (var src = WeightSource.OpenSafetensors(hf))
            GgufExport.Write(cfg, src, path, new QuantizedEncoder("Q4_K_M", cfg.NumHiddenLayers, hasOutputTensor: !cfg.TieWordEmbeddings), "moe");
        using var repacked = QwenModel.Load(path, new ModelLoadOptions { RepackExperts = true });
        using var inPlace = QwenModel.Load(path, new ModelLoadOptions { RepackExperts = false });
        using var auto = QwenModel.Load(path); // 2 MB: fits in memory, so repacked
        static List<Matrix> Experts(QwenModel m) =>
            m.Layers.Select(l => l.Mlp).OfType<SparseMoeMlp>().SelectMany(e => e.Experts).Select(e => e.GateProj.Weight).ToList();
        Assert.All(Experts(repacked), w => Assert.False(Assert.IsType<InterleavedKQuantMatrix>(w).IsPacked));
        Assert.All(Experts(inPlace), w => Assert.IsType<KQuantMatrix>(w));
        Assert.All(Experts(auto), w => Assert.IsType<InterleavedKQuantMatrix>(w));
        Assert.Equal(GgmlType.Q4_K, Experts(repacked)[0].Type);

        var tokens = Enumerable.Range(0, 12).Select(i => i * 37 % cfg.VocabSize).ToArray();
        var a = Reference.Run(repacked, tokens);
        var b = Reference.Run(inPlace, tokens);
        // Same integer sums in both kernels; only the float summation order differs.
        var (maxAbs, minCos, agree) = Reference.Compare(a, b);
        Assert.True(minCos > 0.99999, $"min cosine {minCos}");
        Assert.Equal(tokens.Length, agree);
        Assert.Contains(Experts(repacked), w => ((InterleavedKQuantMatrix)w).IsPacked);        // the routed ones
        Assert.All(Experts(inPlace), w => Assert.IsType<KQuantMatrix>(w));
    }

    [Theory]
    [InlineData("qwen3moe-tiny", null)]
    [InlineData("qwen3moe-tiny", GgmlType.Q4_K)]
    [InlineData("qwen3moe-tiny", GgmlType.Q8_0)]
    [InlineData("qwen3moe-tiny", GgmlType.Q6_K)]
    [InlineData("qwen2moe-tiny", null)]
    [InlineData("qwen2moe-tiny", GgmlType.Q4_0)]
    public void GroupedEqualsExpertAfterExpert(string name, GgmlType? quantize)
    {
        using var model = QwenModel.Load(Dir(name), new ModelLoadOptions { Quantize = quantize });
        var moe = model.Layers.Select(l => l.Mlp).OfType<SparseMoeMlp>().First();
        if (quantize is GgmlType t) Assert.Equal(t, moe.Experts[0].GateProj.Weight.Type);
        int hidden = model.Config.HiddenSize;
        foreach (int threads in new[] { 1, 2, 3 })
        {
            using var pool = new WorkerPool(threads);
            using var ctx = model.CreateContext(pool);
            foreach (int n in new[] { 1, 2, 5, 23 })
            {
                var x = RandomRows(n, hidden, seed: n * 10 + threads);
                var oneByOne = Run(model, ctx, moe, x, n, grouped: false);
                var grouped = Run(model, ctx, moe, x, n, grouped: true);
                Assert.DoesNotContain(grouped, float.IsNaN);
                Assert.Equal(oneByOne, grouped);
            }
        }
    }

    /// <summary>A matrix that forwards to another and records whether its weights were read.</summary>
    sealed class Recording(Matrix inner) : Matrix(inner.Rows, inner.Cols)
    {
        public int Computes;
        public override GgmlType Type => inner.Type;
        public override long ByteSize => inner.ByteSize;
        public override InputFormat InputFormat => inner.InputFormat;
        public override int QuantizedInputRowBytes => inner.QuantizedInputRowBytes;
        public override int RowGranularity => inner.RowGranularity;
        public override void QuantizeInputRow(float* x, byte* dst) => inner.QuantizeInputRow(x, dst);
        public override void DequantizeRow(int row, Span<float> dst) => inner.DequantizeRow(row, dst);
        public override void Compute(in MatMulInput x, int n, float* y, int ldy, int r0, int r1)
        {
            Interlocked.Increment(ref Computes);
            inner.Compute(x, n, y, ldy, r0, r1);
        }
    }

    [Theory]
    [InlineData(null)]
    [InlineData(GgmlType.Q4_K)]
    public void GroupedReadsOnlyTheRoutedExperts(GgmlType? quantize)
    {
        using var model = QwenModel.Load(Dir("qwen3moe-tiny"), new ModelLoadOptions { Quantize = quantize });
        var orig = model.Layers.Select(l => l.Mlp).OfType<SparseMoeMlp>().First();
        Linear Wrap(Linear l) => new(new Recording(l.Weight), l.Bias);
        var experts = orig.Experts.Select(e => new DenseMlp { GateProj = Wrap(e.GateProj), UpProj = Wrap(e.UpProj), DownProj = Wrap(e.DownProj) }).ToArray();
        var moe = new SparseMoeMlp { Router = orig.Router, Experts = experts, TopK = orig.TopK, NormTopkProb = orig.NormTopkProb };
        using var pool = new WorkerPool(2);
        using var ctx = model.CreateContext(pool);
        int hidden = model.Config.HiddenSize;
        var x = RandomRows(1, hidden, seed: 3);

        var expected = Run(model, ctx, orig, x, 1, grouped: false);
        Assert.Equal(expected, Run(model, ctx, moe, x, 1, grouped: true));

        // One token, top-2 of 4: exactly the two experts the router picked were read, each projection of them.
        var routed = TopExperts(orig.Router, x, orig.Experts.Length, hidden, orig.TopK);
        for (int e = 0; e < experts.Length; e++)
        {
            var mats = new[] { experts[e].GateProj.Weight, experts[e].UpProj.Weight, experts[e].DownProj.Weight }.Cast<Recording>();
            if (routed.Contains(e)) Assert.All(mats, m => Assert.True(m.Computes > 0, $"routed expert {e} was not computed"));
            else Assert.All(mats, m => Assert.Equal(0, m.Computes));
        }
    }

    /// <summary>The k experts with the largest router logits, computed here in double precision.</summary>
    static HashSet<int> TopExperts(float[] router, float[] x, int experts, int hidden, int k)
    {
        var logits = new double[experts];
        for (int e = 0; e < experts; e++)
            for (int i = 0; i < hidden; i++) logits[e] += (double)router[e * hidden + i] * x[i];
        return Enumerable.Range(0, experts).OrderByDescending(e => logits[e]).Take(k).ToHashSet();
    }
}
