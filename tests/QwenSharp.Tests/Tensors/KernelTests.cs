using QwenSharp.Engine;
using QwenSharp.Tensors;
using QwenSharp.Tensors.Kernels;

namespace QwenSharp.Tests.Tensors;

/// <summary>Every SIMD kernel against its plain scalar twin on random inputs.</summary>
public unsafe class KernelTests
{
    static float[] Random(Random r, int n, float scale = 1) => Enumerable.Range(0, n).Select(_ => (float)(r.NextDouble() * 2 - 1) * scale).ToArray();

    public static TheoryData<int> Lengths => new(1, 7, 8, 15, 16, 17, 31, 32, 33, 64, 100, 255, 896);

    [Theory]
    [MemberData(nameof(Lengths))]
    public void FloatDotsMatchTheScalarLoop(int k)
    {
        var r = new Random(k);
        var w = Random(r, 4 * k);
        var x = Random(r, k);
        var bf = w.Select(Numerics.FloatToBFloat16).ToArray();
        var hf = w.Select(Numerics.FloatToHalf).ToArray();
        var sums = new float[4];
        fixed (float* pw = w, px = x, ps = sums)
        fixed (ushort* pb = bf, ph = hf)
        {
            for (int row = 0; row < 4; row++)
            {
                double expected = FloatDot.Reference.Dot(pw + row * k, px, k);
                Assert.Equal(expected, FloatDot.Dot(pw + row * k, px, k), 1e-4 * Math.Sqrt(k));
            }
            FloatDot.Dot4(pw, k, px, k, ps);
            for (int row = 0; row < 4; row++) Assert.Equal(FloatDot.Reference.Dot(pw + row * k, px, k), sums[row], 1e-4 * Math.Sqrt(k));
            foreach (var (p, isBf) in new[] { ((nint)pb, true), ((nint)ph, false) })
            {
                ushort* q = (ushort*)p;
                FloatDot.Dot4Half(q, k, px, k, ps, isBf);
                for (int row = 0; row < 4; row++)
                {
                    double expected = FloatDot.Reference.DotHalf(q + row * k, px, k, isBf);
                    Assert.Equal(expected, sums[row], 1e-4 * Math.Sqrt(k));
                    Assert.Equal(expected, FloatDot.DotHalf(q + row * k, px, k, isBf), 1e-4 * Math.Sqrt(k));
                }
                // The portable Vector128 path (ARM64) too.
                FloatDot.Portable.Dot4Half(q, k, px, k, ps, isBf);
                for (int row = 0; row < 4; row++)
                {
                    double expected = FloatDot.Reference.DotHalf(q + row * k, px, k, isBf);
                    Assert.Equal(expected, sums[row], 1e-4 * Math.Sqrt(k));
                    Assert.Equal(expected, FloatDot.Portable.DotHalf(q + row * k, px, k, isBf), 1e-4 * Math.Sqrt(k));
                }
            }
            FloatDot.Portable.Dot4(pw, k, px, k, ps);
            for (int row = 0; row < 4; row++)
            {
                double expected = FloatDot.Reference.Dot(pw + row * k, px, k);
                Assert.Equal(expected, sums[row], 1e-4 * Math.Sqrt(k));
                Assert.Equal(expected, FloatDot.Portable.Dot(pw + row * k, px, k), 1e-4 * Math.Sqrt(k));
            }
        }
    }

    [Fact]
    public void HalfConversionIsExactForEveryFiniteValue()
    {
        for (int h = 0; h < 65536; h++)
        {
            var half = BitConverter.UInt16BitsToHalf((ushort)h);
            if (!Half.IsFinite(half)) continue;
            Assert.Equal((float)half, Numerics.HalfToFloat((ushort)h));
        }
        var row = Enumerable.Range(0, 65536).Select(i => (ushort)i).Where(i => Half.IsFinite(BitConverter.UInt16BitsToHalf(i))).ToArray();
        var dst = new float[row.Length];
        fixed (ushort* p = row) fixed (float* d = dst) FloatDot.ConvertRow(p, d, row.Length, bf16: false);
        for (int i = 0; i < row.Length; i++) Assert.Equal((float)BitConverter.UInt16BitsToHalf(row[i]), dst[i]);
        Array.Clear(dst);
        fixed (ushort* p = row) fixed (float* d = dst) FloatDot.Portable.ConvertRow(p, d, row.Length, bf16: false);
        for (int i = 0; i < row.Length; i++)
            Assert.Equal(BitConverter.SingleToInt32Bits((float)BitConverter.UInt16BitsToHalf(row[i])), BitConverter.SingleToInt32Bits(dst[i]));
    }

    [Fact]
    public void BFloat16RowConversionMatchesScalar()
    {
        var row = Enumerable.Range(0, 65536).Select(i => (ushort)i).Where(i => float.IsFinite(Numerics.BFloat16ToFloat(i))).ToArray();
        var dst = new float[row.Length];
        fixed (ushort* p = row) fixed (float* d = dst) FloatDot.ConvertRow(p, d, row.Length, bf16: true);
        for (int i = 0; i < row.Length; i++) Assert.Equal(BitConverter.SingleToInt32Bits(Numerics.BFloat16ToFloat(row[i])), BitConverter.SingleToInt32Bits(dst[i]));
        Array.Clear(dst);
        fixed (ushort* p = row) fixed (float* d = dst) FloatDot.Portable.ConvertRow(p, d, row.Length, bf16: true);
        for (int i = 0; i < row.Length; i++) Assert.Equal(BitConverter.SingleToInt32Bits(Numerics.BFloat16ToFloat(row[i])), BitConverter.SingleToInt32Bits(dst[i]));
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(3, 2)]
    [InlineData(17, 3)]
    public void MatMulOnThePoolMatchesNaive(int n, int threads)
    {
        var r = new Random(n * 31 + threads);
        int rows = 37, cols = 67;
        var w = Random(r, rows * cols);
        var x = Random(r, n * cols);
        var bf = w.Select(Numerics.FloatToBFloat16).ToArray();
        using var pool = new WorkerPool(threads);
        using var mm = new MatMul(pool);
        fixed (float* pw = w, px = x)
        fixed (ushort* pb = bf)
        {
            foreach (var m in new Matrix[] { new F32Matrix(pw, rows, cols), new HalfMatrix(pb, rows, cols, bf16: true) })
            {
                var y = new float[n * rows];
                fixed (float* py = y) mm.Run(m, px, cols, n, py, rows);
                var row = new float[cols];
                for (int j = 0; j < rows; j++)
                {
                    m.DequantizeRow(j, row);
                    for (int i = 0; i < n; i++)
                    {
                        double e = 0;
                        for (int c = 0; c < cols; c++) e += (double)row[c] * x[i * cols + c];
                        Assert.Equal(e, y[i * rows + j], 1e-4);
                    }
                }
            }
        }
    }

    [Fact]
    public void RmsNormMatchesReference()
    {
        var r = new Random(5);
        foreach (int d in new[] { 1, 17, 64, 896 })
        {
            var x = Random(r, d, 3);
            var w = Random(r, d);
            var y = new float[d];
            var e = new float[d];
            fixed (float* px = x, pw = w, py = y) RmsNorm.Row(px, pw, py, d, 1e-6f);
            RmsNorm.Reference(x, w, e, 1e-6f);
            for (int i = 0; i < d; i++) Assert.Equal(e[i], y[i], 1e-5);
        }
    }

    [Fact]
    public void RopeRotatesHalvesByPositionTimesFrequency()
    {
        int d = 8, pos = 5;
        var inv = Enumerable.Range(0, d / 2).Select(i => 1.0 / Math.Pow(10000, 2.0 * i / d)).ToArray();
        var v = Random(new Random(1), 2 * d);
        var orig = (float[])v.Clone();
        var cos = new float[d / 2];
        var sin = new float[d / 2];
        fixed (float* pv = v, pc = cos, ps = sin)
        {
            Rope.Angles(pos, inv, 1f, pc, ps);
            Rope.Apply(pv, 2, d, pc, ps);
        }
        for (int h = 0; h < 2; h++)
            for (int i = 0; i < d / 2; i++)
            {
                double a = pos * inv[i];
                double x1 = orig[h * d + i], x2 = orig[h * d + i + d / 2];
                Assert.Equal(x1 * Math.Cos(a) - x2 * Math.Sin(a), v[h * d + i], 1e-5);
                Assert.Equal(x2 * Math.Cos(a) + x1 * Math.Sin(a), v[h * d + i + d / 2], 1e-5);
            }
    }

    [Fact]
    public void SoftmaxAndSiluMatchDirectComputation()
    {
        var x = Random(new Random(2), 37, 10);
        var s = (float[])x.Clone();
        fixed (float* p = s) Activations.Softmax(p, s.Length);
        double max = x.Max(), sum = x.Sum(v => Math.Exp(v - max));
        for (int i = 0; i < x.Length; i++) Assert.Equal(Math.Exp(x[i] - max) / sum, s[i], 1e-6);

        // 2,500 values: more than one of SiluMul's 1,024-value chunks, and a partial one at the end.
        var g = Random(new Random(3), 2500, 5);
        var u = Random(new Random(4), 2500);
        var gc = (float[])g.Clone();
        fixed (float* pg = gc, pu = u) Activations.SiluMul(pg, pu, gc.Length);
        for (int i = 0; i < g.Length; i++) Assert.Equal(g[i] / (1 + Math.Exp(-g[i])) * u[i], gc[i], 1e-5);
    }

    [Fact]
    public void TopKPicksTheLargestInOrder()
    {
        var p = new float[] { 0.1f, 0.5f, 0.2f, 0.5f, 0.05f, 0.15f };
        var idx = new int[3];
        var w = new float[3];
        fixed (float* pp = p) QwenSharp.Models.QwenModel.TopK(pp, p.Length, idx, w, 3);
        Assert.Equal(new[] { 1, 3, 2 }, idx);
        Assert.Equal(new[] { 0.5f, 0.5f, 0.2f }, w);
    }

    [Fact]
    public void WorkerPoolRunsEveryItemOnceAndPropagatesErrors()
    {
        using var pool = new WorkerPool(3);
        var job = new CountJob(1000);
        for (int round = 0; round < 200; round++)
        {
            Array.Clear(job.Hits);
            pool.Run(job, 1000);
            Assert.All(job.Hits, h => Assert.Equal(1, h));
        }
        job.ThrowAt = 500;
        Assert.Throws<InvalidOperationException>(() => pool.Run(job, 1000));
        job.ThrowAt = -1;
        pool.Run(job, 10); // still usable
    }

    sealed class CountJob(int n) : ParallelJob
    {
        public readonly int[] Hits = new int[n];
        public int ThrowAt = -1;
        public override void Execute(int item, int worker)
        {
            if (item == ThrowAt) throw new InvalidOperationException("boom");
            Interlocked.Increment(ref Hits[item]);
        }
    }
}
