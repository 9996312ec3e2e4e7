using QwenSharp.Engine;
using QwenSharp.Tensors;
using QwenSharp.Tensors.Quantization;

namespace QwenSharp.Tests.Tensors;

/// <summary>
/// Every SIMD kernel against its scalar reference twin on random inputs: activation quantization, the
/// repacked 32-block kernels, the K-quant kernels, and dequantization of repacked matrices.
/// </summary>
public unsafe class QuantizedKernelTests
{
    static float[] Random(int n, int seed, float scale = 1f)
    {
        var r = new Random(seed);
        var v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float)(r.NextDouble() * 2 - 1) * scale * (r.Next(10) == 0 ? 4 : 1);
        return v;
    }

    [Fact]
    public void Blocks32ActivationQuantizationMatchesReference()
    {
        var x = Random(32 * 40, 1);
        x[5] = 0.5f / 127 * 3; // values near rounding ties
        int bytes = ActivationQuantizer.Q8Blocks32RowBytes(x.Length);
        var a = new byte[bytes];
        var b = new byte[bytes];
        fixed (float* xp = x) fixed (byte* pa = a) fixed (byte* pb = b)
        {
            ActivationQuantizer.QuantizeBlocks32(xp, x.Length, pa);
            ActivationQuantizer.Reference.QuantizeBlocks32(xp, x.Length, pb);
        }
        Assert.Equal(b, a);
    }

    [Fact]
    public void Blocks256ActivationQuantizationMatchesReference()
    {
        var x = Random(256 * 6, 5);
        x[300] = -x.Max(MathF.Abs) * 1.5f;   // the largest magnitude is negative
        x[301] = -x[300];                    // and tied with a later positive one
        for (int i = 512; i < 768; i++) x[i] = 0; // an all-zero block
        int bytes = ActivationQuantizer.Q8Blocks256RowBytes(x.Length);
        var a = new byte[bytes];
        var b = new byte[bytes];
        fixed (float* xp = x) fixed (byte* pa = a) fixed (byte* pb = b)
        {
            ActivationQuantizer.QuantizeBlocks256(xp, x.Length, pa);
            ActivationQuantizer.Reference.QuantizeBlocks256(xp, x.Length, pb);
        }
        Assert.Equal(b, a);
    }

    public static TheoryData<GgmlType, int, int, bool> Shapes()
    {
        var d = new TheoryData<GgmlType, int, int, bool>();
        foreach (var t in new[] { GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K })
        {
            d.Add(t, 13, 512, false);   // rows not a multiple of 8
            d.Add(t, 8, 1024, false);
            d.Add(t, 21, 512, true);    // mixture-of-experts use: repacked lazily, on first use
        }
        return d;
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void KernelMatchesScalarReference(GgmlType type, int rows, int cols, bool sparseUse)
    {
        var w = Random(rows * cols, 2, 0.05f);
        long rowBytes = GgmlTypeInfo.RowBytes(type, cols);
        var q = new byte[rows * rowBytes];
        const int n = 7; // exercises the 4-input batch path and the tail
        var x = Random(n * cols, 3);
        fixed (float* wp = w) fixed (byte* qp = q) fixed (float* xp = x)
        {
            for (int r = 0; r < rows; r++) BlockQuantizer.Row(type, wp + r * cols, qp + r * rowBytes, cols);
            var m = MatrixFactory.Create(type, qp, rows, cols, "test", sparseUse);
            try
            {
                if (sparseUse) Assert.False(m switch { Block32Matrix b => b.IsPacked, InterleavedKQuantMatrix k => k.IsPacked, _ => true });
                int qs = m.QuantizedInputRowBytes;
                var xq = new byte[n * qs];
                var y = new float[n * rows];
                fixed (byte* xqp = xq) fixed (float* yp = y)
                {
                    for (int i = 0; i < n; i++) m.QuantizeInputRow(xp + i * cols, xqp + i * qs);
                    m.Compute(new MatMulInput(xp, cols, xqp, qs), n, yp, rows, 0, rows);
                    // Through the driver and the pool too.
                    var y2 = new float[n * rows];
                    using var pool = new WorkerPool(2);
                    using var mm = new MatMul(pool);
                    fixed (float* y2p = y2) mm.Run(m, xp, cols, n, y2p, rows);
                    // A batch gives bit-identical rows to one input at a time (prefill and decode agree).
                    var single = new float[rows];
                    for (int i = 0; i < n; i++)
                    {
                        fixed (float* sp = single) m.Compute(new MatMulInput(xp + i * cols, cols, xqp + i * qs, qs), 1, sp, rows, 0, rows);
                        Assert.Equal(single, y.AsSpan(i * rows, rows).ToArray());
                    }
                    // A batch of 6 (the 2-input tail) agrees too.
                    var y6 = new float[6 * rows];
                    fixed (float* y6p = y6) m.Compute(new MatMulInput(xp, cols, xqp, qs), 6, y6p, rows, 0, rows);
                    Assert.Equal(y.AsSpan(0, 6 * rows).ToArray(), y6);
                    for (int i = 0; i < n; i++)
                        for (int r = 0; r < rows; r++)
                        {
                            float expected = ReferenceDot.Dot(type, qp + r * rowBytes, xqp + i * qs, cols);
                            Assert.True(MathF.Abs(y[i * rows + r] - expected) <= 1e-4f * (1 + MathF.Abs(expected)), $"{type} row {r} input {i}: {y[i * rows + r]} vs {expected}");
                            Assert.Equal(y[i * rows + r], y2[i * rows + r]);
                        }
                }
                // Dequantization of the (possibly repacked) matrix equals the GGUF blocks'.
                var row = new float[cols];
                var expectedRow = new float[cols];
                for (int r = 0; r < rows; r++)
                {
                    m.DequantizeRow(r, row);
                    fixed (float* e = expectedRow) BlockDequantizer.Row(type, qp + r * rowBytes, e, cols);
                    Assert.Equal(expectedRow, row);
                }
            }
            finally { (m as IDisposable)?.Dispose(); }
        }
    }

    /// <summary>The repack at load (straight from the GGUF bytes) writes what the plain unpack-then-place reference writes, for any block bytes and every row lane.</summary>
    [Theory]
    [InlineData(GgmlType.Q4_K)]
    [InlineData(GgmlType.Q5_K)]
    [InlineData(GgmlType.Q6_K)]
    public void KQuantRepackEqualsReference(GgmlType type)
    {
        int blockBytes = GgmlTypeInfo.Layout(type).TypeSize, chunkBytes = type switch { GgmlType.Q4_K => 1184, GgmlType.Q5_K => 1440, _ => 1680 };
        var r = new Random(9);
        var blocks = new byte[8 * blockBytes];
        var fast = new byte[chunkBytes];
        var reference = new byte[chunkBytes];
        for (int trial = 0; trial < 20; trial++)
        {
            r.NextBytes(blocks); // every bit pattern is a block; the d fields are only copied
            fast.AsSpan().Fill(0xA5);
            reference.AsSpan().Fill(0xA5);
            fixed (byte* b = blocks) fixed (byte* f = fast) fixed (byte* e = reference)
                for (int lane = 0; lane < 8; lane++)
                {
                    InterleavedKQuantMatrix.WriteRow(type, b + lane * blockBytes, f, lane);
                    InterleavedKQuantMatrix.WriteRowReference(type, b + lane * blockBytes, e, lane);
                }
            Assert.Equal(reference, fast);
        }
    }

    [Theory]
    [InlineData(GgmlType.Q8_0, 0.01)]
    [InlineData(GgmlType.Q4_0, 0.2)]
    [InlineData(GgmlType.Q4_1, 0.2)]
    [InlineData(GgmlType.Q5_0, 0.1)]
    [InlineData(GgmlType.Q5_1, 0.1)]
    [InlineData(GgmlType.Q4_K, 0.2)]
    [InlineData(GgmlType.Q5_K, 0.1)]
    [InlineData(GgmlType.Q6_K, 0.05)]
    public void QuantizeDequantizeRoundTripIsClose(GgmlType type, double relRms)
    {
        int cols = 512;
        var x = Random(cols, 4);
        var q = new byte[GgmlTypeInfo.RowBytes(type, cols)];
        var y = new float[cols];
        fixed (float* xp = x) fixed (byte* qp = q) fixed (float* yp = y)
        {
            BlockQuantizer.Row(type, xp, qp, cols);
            BlockDequantizer.Row(type, qp, yp, cols);
        }
        double err = 0, norm = 0;
        for (int i = 0; i < cols; i++) { err += (x[i] - y[i]) * (double)(x[i] - y[i]); norm += x[i] * (double)x[i]; }
        Assert.True(Math.Sqrt(err / norm) < relRms, $"{type}: relative RMS error {Math.Sqrt(err / norm)}");
    }
}
