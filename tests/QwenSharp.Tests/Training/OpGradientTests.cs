using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using QwenSharp.Engine;
using QwenSharp.Lora;
using QwenSharp.Models;
using QwenSharp.Tensors;
using QwenSharp.Training;
using QwenSharp.Training.Ops;

namespace QwenSharp.Tests.Training;

/// <summary>
/// Every backward pass of the training graph checked against central finite differences of its forward
/// pass: the loss is L = Σ c ∘ output with random c, so dL/doutput = c, and each analytic input gradient
/// entry must match (L(x + ε) − L(x − ε)) / 2ε computed in double from the f32 forward.
/// </summary>
public unsafe class OpGradientTests
{
    // Inline (one thread): these ops are tiny and run thousands of times; the model tests cover the threaded paths.
    static readonly WorkerPool Pool = new(1);

    internal static float[] Rand(Random r, int n, float scale = 1f)
    {
        var a = GC.AllocateArray<float>(n, pinned: true);
        for (int i = 0; i < n; i++) a[i] = (float)(r.NextDouble() * 2 - 1) * scale;
        return a;
    }

    /// <summary>A zeroed array that the GC never moves: the ops get raw pointers to it (<see cref="P"/>).</summary>
    internal static float[] Zeros(int n) => GC.AllocateArray<float>(n, pinned: true);

    internal static float* P(float[] a) => (float*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(a));

    /// <summary>Checks analytic gradient g of f with respect to x at every index (or a sample of them).</summary>
    internal static void CheckGradient(string what, float[] x, float[] g, Func<double> f, double eps = 1e-2, double rtol = 2e-2, double atol = 2e-3, int maxChecks = 200)
    {
        var r = new Random(7);
        int n = x.Length;
        var idx = n <= maxChecks ? Enumerable.Range(0, n) : Enumerable.Range(0, maxChecks).Select(_ => r.Next(n));
        double worst = 0;
        foreach (int i in idx)
        {
            float keep = x[i];
            x[i] = keep + (float)eps; double up = f();
            x[i] = keep - (float)eps; double down = f();
            x[i] = keep;
            double fd = (up - down) / (2 * eps);
            double err = Math.Abs(fd - g[i]);
            worst = Math.Max(worst, err / (atol + rtol * Math.Abs(fd)));
            Assert.True(err <= atol + rtol * Math.Abs(fd), $"{what}[{i}]: analytic {g[i]:G6}, finite difference {fd:G6}");
        }
        Assert.True(worst <= 1, what);
    }

    static double Dot(float* a, float[] c)
    {
        double s = 0;
        for (int i = 0; i < c.Length; i++) s += (double)a[i] * c[i];
        return s;
    }

    [Fact]
    public void RmsNorm()
    {
        var r = new Random(1);
        int rows = 3, d = 16;
        var x = Rand(r, rows * d); var w = Rand(r, d); var c = Rand(r, rows * d);
        var y = Zeros(rows * d); var rstd = Zeros(rows); var dx = Zeros(rows * d);
        double F() { fixed (float* px = x, pw = w, py = y, pr = rstd) RmsNormOp.Forward(px, pw, py, pr, rows, d, 1e-6f); fixed (float* py = y) return Dot(py, c); }
        F();
        fixed (float* px = x, pw = w, pr = rstd, pc = c, pd = dx) RmsNormOp.Backward(px, pw, pr, pc, pd, rows, d);
        CheckGradient("rmsnorm dx", x, dx, F, eps: 1e-3);
    }

    [Fact]
    public void Rope()
    {
        var r = new Random(2);
        int heads = 3, d = 8;
        var x = Rand(r, heads * d); var c = Rand(r, heads * d);
        var cos = Zeros(d / 2); var sin = Zeros(d / 2);
        double[] inv = [1.0, 0.3, 0.1, 0.01];
        fixed (float* pc = cos, ps = sin) QwenSharp.Tensors.Kernels.Rope.Angles(5, inv, 1f, pc, ps);
        double F()
        {
            var y = (float[])x.Clone();
            fixed (float* py = y, pc = cos, ps = sin) { RopeOp.Forward(py, heads, d, pc, ps); return Dot(py, c); }
        }
        var g = (float[])c.Clone();
        fixed (float* pg = g, pc = cos, ps = sin) RopeOp.Backward(pg, heads, d, pc, ps);
        CheckGradient("rope dx", x, g, F, eps: 1e-3);
    }

    [Fact]
    public void SwiGlu()
    {
        var r = new Random(3);
        int n = 40;
        var gIn = Rand(r, n, 3); var u = Rand(r, n, 2); var c = Rand(r, n);
        var a = Zeros(n); var dg = Zeros(n); var du = Zeros(n);
        double F() { fixed (float* pg = gIn, pu = u, pa = a) { SwiGluOp.Forward(pg, pu, pa, n); return Dot(pa, c); } }
        fixed (float* pg = gIn, pu = u, pc = c, pdg = dg, pdu = du) SwiGluOp.Backward(pg, pu, pc, pdg, pdu, n);
        CheckGradient("swiglu dgate", gIn, dg, F, eps: 1e-3);
        CheckGradient("swiglu dup", u, du, F, eps: 1e-3);
    }

    [Fact]
    public void AttentionWithGqaAndSegments()
    {
        var r = new Random(4);
        int n = 7, heads = 4, kvHeads = 2, d = 8;
        int[] seg = [0, 0, 0, 0, 4, 4, 4]; // two sequences packed in one row
        var q = Rand(r, n * heads * d); var k = Rand(r, n * kvHeads * d); var v = Rand(r, n * kvHeads * d);
        var c = Rand(r, n * heads * d);
        var o = Zeros(n * heads * d); var lse = Zeros(n * heads);
        double F() { fixed (float* pq = q, pk = k, pv = v, po = o, pl = lse) { AttentionOp.Forward(Pool, pq, pk, pv, seg, n, heads, kvHeads, d, po, pl); return Dot(po, c); } }
        F();
        var dq = Zeros(q.Length); var dk = Zeros(k.Length); var dv = Zeros(v.Length);
        fixed (float* pq = q, pk = k, pv = v, po = o, pl = lse, pc = c, pdq = dq, pdk = dk, pdv = dv)
            AttentionOp.Backward(Pool, pq, pk, pv, po, pl, pc, seg, n, heads, kvHeads, d, pdq, pdk, pdv);
        CheckGradient("attention dq", q, dq, F, eps: 1e-3);
        CheckGradient("attention dk", k, dk, F, eps: 1e-3);
        CheckGradient("attention dv", v, dv, F, eps: 1e-3);

        // Tokens of the second sequence do not see the first: changing k of token 0 leaves outputs 4..6 unchanged.
        F();
        var before = o.ToArray();
        k[0] += 1;
        F();
        for (int i = 4 * heads * d; i < o.Length; i++) Assert.Equal(before[i], o[i]);
    }

    [Theory]
    [InlineData("f32")]
    [InlineData("bf16")]
    [InlineData("q8")]   // a quantized base (QLoRA-style): only Compute and DequantizeRow are used
    public void LinearWithLora(string baseType)
    {
        var r = new Random(5);
        int n = 5, inF = 12, outF = 8, rank = 3;
        var wF = Rand(r, outF * inF);
        Matrix weight;
        ushort[]? half = null;
        if (baseType == "bf16")
        {
            half = GC.AllocateArray<ushort>(wF.Length, pinned: true);
            for (int i = 0; i < half.Length; i++) half[i] = Numerics.FloatToBFloat16(wF[i]);
            weight = new HalfMatrix((ushort*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(half)), outF, inF, bf16: true);
        }
        else if (baseType == "q8") weight = new Int8RowMatrix(wF, outF, inF);
        else weight = new F32Matrix(P(wF), outF, inF);
        var lin = new Linear(weight, Rand(r, outF));
        var lw = new LoraWeights("model.layers.0.self_attn.q_proj", rank, inF, outF, 0.7f, Rand(r, rank * inF), Rand(r, outF * rank));
        var p = new LoraParameter(new LoraTarget(lw.Module, 0, "q_proj", inF, outF), lin, lw);
        var x = Rand(r, n * inF); var c = Rand(r, n * outF);
        var y = Zeros(n * outF); var t = Zeros(n * rank);
        using var op = new LinearOp(Pool);
        double F() { op.Forward(lin, p, P(x), n, P(y), P(t)); return Dot(P(y), c); }
        F();
        var dx = Zeros(x.Length);
        op.Backward(lin, p, P(x), P(t), P(c), n, P(dx));
        CheckGradient("linear dx", x, dx, F, eps: 1e-3);
        CheckGradient("lora dA", lw.A, p.GradA, F, eps: 1e-3);
        CheckGradient("lora dB", lw.B, p.GradB, F, eps: 1e-3);
    }

    [Fact]
    public void LmHeadAndCrossEntropy()
    {
        var r = new Random(6);
        int n = 5, hidden = 16, vocab = 37;
        var e = Rand(r, vocab * hidden);
        var head = new F32Matrix(P(e), vocab, hidden);
        var h = Rand(r, n * hidden, 2);
        int[] labels = [3, -1, 36, 0, 11];
        using var ce = new CrossEntropyOp(Pool);
        double F() => ce.Run(head, P(h), labels, n, 0, null) / 4;
        var dh = Zeros(h.Length);
        double loss = ce.Run(head, P(h), labels, n, 0.25f, P(dh));
        // The loss of each labeled row is logsumexp - z[label] (checked directly in double).
        double expect = 0;
        for (int i = 0; i < n; i++)
        {
            if (labels[i] < 0) continue;
            var z = Enumerable.Range(0, vocab).Select(v => Enumerable.Range(0, hidden).Sum(j => (double)h[i * hidden + j] * e[v * hidden + j])).ToArray();
            double max = z.Max();
            expect += max + Math.Log(z.Sum(v => Math.Exp(v - max))) - z[labels[i]];
        }
        Assert.Equal(expect, loss, 3);
        for (int j = 0; j < hidden; j++) Assert.Equal(0f, dh[hidden + j]); // unlabeled row: no gradient
        CheckGradient("cross-entropy dh", h, dh, F, eps: 1e-3);
    }
}

/// <summary>
/// A stand-in for a quantized weight format: int8 values with one f32 scale per row. The training code
/// must work through the <see cref="Matrix"/> API alone (Compute for the forward pass, DequantizeRow for
/// the backward pass), so the frozen base can stay quantized.
/// </summary>
internal sealed unsafe class Int8RowMatrix : Matrix
{
    readonly sbyte[] _q;
    readonly float[] _scale;

    public Int8RowMatrix(float[] w, int rows, int cols) : base(rows, cols)
    {
        _q = new sbyte[rows * cols];
        _scale = new float[rows];
        for (int r = 0; r < rows; r++)
        {
            float max = 0;
            for (int c = 0; c < cols; c++) max = Math.Max(max, Math.Abs(w[r * cols + c]));
            _scale[r] = max / 127;
            for (int c = 0; c < cols; c++) _q[r * cols + c] = (sbyte)Math.Round(w[r * cols + c] / _scale[r]);
        }
    }

    public override GgmlType Type => GgmlType.I8;
    public override long ByteSize => _q.Length + _scale.Length * 4;

    public override void DequantizeRow(int row, Span<float> dst)
    {
        for (int c = 0; c < Cols; c++) dst[c] = _q[row * Cols + c] * _scale[row];
    }

    public override void Compute(in MatMulInput x, int n, float* y, int ldy, int r0, int r1)
    {
        for (int r = r0; r < r1; r++)
            for (int i = 0; i < n; i++)
            {
                float s = 0;
                for (int c = 0; c < Cols; c++) s += _q[r * Cols + c] * x.F32[(long)i * x.Stride + c];
                y[(long)i * ldy + r] = s * _scale[r];
            }
    }
}

/// <summary>One worker pool for the training tests (pools spin while waiting; several would fight over the cores).</summary>
internal static class TrainingTestPool
{
    public static WorkerPool Instance => WorkerPool.Shared;
}
