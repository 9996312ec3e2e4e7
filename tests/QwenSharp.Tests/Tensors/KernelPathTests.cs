using System.Runtime.Intrinsics.X86;
using QwenSharp.Tensors;
using QwenSharp.Tensors.Quantization;

namespace QwenSharp.Tests.Tensors;

/// <summary>
/// The kernel paths of the interleaved quantized matrices: the portable Vector128 kernels (the ARM64 path, run here
/// through the same cross-platform API on x86-64) give bit-identical results to the AVX2 kernels, and every path
/// matches the scalar reference dot, on random weights and on saturated blocks (every quant at its largest value,
/// activations at −128/−127: the int16 lane sums at their bound).
/// </summary>
public unsafe class KernelPathTests
{
    static readonly GgmlType[] Types = [GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K];

    public static TheoryData<GgmlType, bool> Cases()
    {
        var d = new TheoryData<GgmlType, bool>();
        foreach (var t in Types) { d.Add(t, false); d.Add(t, true); }
        return d;
    }

    /// <summary>GGUF bytes for a rows×cols matrix: quantized random weights, or (saturated) every quant at its largest magnitude, fp16 scales random.</summary>
    static byte[] Weights(GgmlType type, int rows, int cols, bool saturated)
    {
        long rowBytes = GgmlTypeInfo.RowBytes(type, cols);
        var q = new byte[rows * rowBytes];
        var rng = new Random(11);
        if (!saturated)
        {
            var w = new float[cols];
            fixed (float* wp = w) fixed (byte* qp = q)
                for (int r = 0; r < rows; r++)
                {
                    for (int i = 0; i < cols; i++) w[i] = (float)(rng.NextDouble() * 2 - 1) * 0.05f;
                    BlockQuantizer.Row(type, wp, qp + r * rowBytes, cols);
                }
            return q;
        }
        q.AsSpan().Fill(type == GgmlType.Q8_0 ? (byte)0x80 : (byte)0xFF); // Q8_0: −128; the others: every bit of every quant set
        var (blockSize, typeSize) = GgmlTypeInfo.Layout(type);
        // fp16 fields: d (and the min / dmin next to it), or Q6_K's d at the end of the block.
        int[] halves = type switch
        {
            GgmlType.Q4_1 or GgmlType.Q5_1 or GgmlType.Q4_K or GgmlType.Q5_K => [0, 2],
            GgmlType.Q6_K => [208],
            _ => [0],
        };
        for (int b = 0; b < q.Length / typeSize; b++)
            foreach (int o in halves)
                BitConverter.TryWriteBytes(q.AsSpan(b * typeSize + o), (Half)(0.001f * (1 + rng.Next(100)) * (rng.Next(2) == 0 ? 1 : -1)));
        return q;
    }

    static float[] Inputs(int n, int cols, bool saturated)
    {
        var rng = new Random(12);
        var x = new float[n * cols];
        for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 2 - 1) * (rng.Next(10) == 0 ? 4 : 1);
        if (saturated)
            for (int k = 0; k < cols; k++) { x[k] = -1f; x[cols + k] = 1f; } // input 0 all at −128 (Q8_K) / −127, input 1 all at +127
        return x;
    }

    static Matrix Create(GgmlType type, byte* q, int rows, int cols, KernelPath path) =>
        Block32Matrix.Handles(type)
            ? new Block32Matrix(type, q, rows, cols, kernels: path)
            : new InterleavedKQuantMatrix(type, q, rows, cols, kernels: path);

    static float[] Compute(Matrix m, float[] x, int n)
    {
        int qs = m.QuantizedInputRowBytes;
        var xq = new byte[n * qs];
        var y = new float[n * m.Rows];
        fixed (float* xp = x) fixed (byte* xqp = xq) fixed (float* yp = y)
        {
            for (int i = 0; i < n; i++) m.QuantizeInputRow(xp + i * m.Cols, xqp + i * qs);
            m.Compute(new MatMulInput(xp, m.Cols, xqp, qs), n, yp, m.Rows, 0, m.Rows);
        }
        return y;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void EveryPathMatchesReferenceAndVector128EqualsAvx2(GgmlType type, bool saturated)
    {
        const int rows = 13, cols = 512, n = 5; // rows not a multiple of 8; a batch that takes the 4-input and 1-input AVX2 kernels
        var q = Weights(type, rows, cols, saturated);
        var x = Inputs(n, cols, saturated);
        long rowBytes = GgmlTypeInfo.RowBytes(type, cols);
        var results = new Dictionary<KernelPath, float[]>();
        fixed (byte* qp = q)
        {
            foreach (var path in new[] { KernelPath.Vector128, KernelPath.Scalar, KernelPath.Avx2 })
            {
                if (path == KernelPath.Avx2 && KernelPaths.Best != KernelPath.Avx2) continue;
                var m = Create(type, qp, rows, cols, path);
                try
                {
                    Assert.Equal(path, m is Block32Matrix b ? b.KernelPath : ((InterleavedKQuantMatrix)m).KernelPath);
                    results[path] = Compute(m, x, n);
                    // The reference dot on the GGUF rows, with the same quantized input.
                    int qs = m.QuantizedInputRowBytes;
                    var xq = new byte[qs];
                    fixed (float* xp = x) fixed (byte* xqp = xq)
                        for (int i = 0; i < n; i++)
                        {
                            m.QuantizeInputRow(xp + i * cols, xqp);
                            for (int r = 0; r < rows; r++)
                            {
                                float expected = ReferenceDot.Dot(type, qp + r * rowBytes, xqp, cols);
                                float got = results[path][i * rows + r];
                                Assert.True(MathF.Abs(got - expected) <= 1e-4f * (1 + MathF.Abs(expected)),
                                    $"{type} {path} row {r} input {i}: {got} vs {expected}");
                            }
                        }
                }
                finally { ((IDisposable)m).Dispose(); }
            }
        }
        if (results.TryGetValue(KernelPath.Avx2, out var avx2))
            Assert.Equal(avx2, results[KernelPath.Vector128]); // bit for bit
        // One input at a time gives the same bits as the batch.
        fixed (byte* qp = q)
        {
            var m = Create(type, qp, rows, cols, KernelPath.Vector128);
            try
            {
                for (int i = 0; i < n; i++)
                    Assert.Equal(results[KernelPath.Vector128].AsSpan(i * rows, rows).ToArray(), Compute(m, x.AsSpan(i * cols, cols).ToArray(), 1));
            }
            finally { ((IDisposable)m).Dispose(); }
        }
    }

    [Fact]
    public void ResolveTakesAnExplicitPathAndRejectsAvx2WhereMissing()
    {
        Assert.Equal(KernelPath.Vector128, KernelPaths.Resolve(KernelPath.Vector128));
        Assert.Equal(KernelPath.Scalar, KernelPaths.Resolve(KernelPath.Scalar));
        if (Avx2.IsSupported && Fma.IsSupported) Assert.Equal(KernelPath.Avx2, KernelPaths.Resolve(KernelPath.Avx2));
        else Assert.Contains("AVX2", Assert.Throws<NotSupportedException>(() => KernelPaths.Resolve(KernelPath.Avx2)).Message);
        Assert.Equal(KernelPath.Vector128, KernelPaths.Parse("Vector128"));
        Assert.Equal(KernelPath.Auto, KernelPaths.Parse("auto"));
        var e = Assert.Throws<ArgumentException>(() => KernelPaths.Parse("neon"));
        Assert.Contains(KernelPaths.EnvironmentVariable, e.Message);
        Assert.Contains("neon", e.Message);
    }
}
