using System.Numerics.Tensors;
using System.Runtime.Intrinsics;
using QwenSharp.Engine;
using QwenSharp.Tensors;

namespace QwenSharp.Training.Ops;

/// <summary>
/// The matrix products of the backward pass, over row-major f32 buffers (and frozen weight matrices in
/// any <see cref="Matrix"/> format, read only through <see cref="Matrix.DequantizeRow"/>).
/// Forward products (x · Wᵀ) use the inference <see cref="MatMul"/>.
/// </summary>
public static unsafe class DenseOps
{
    /// <summary>c[rows, cols] += alpha · aᵀ · b, with a [n, rows] (stride lda) and b [n, cols] (stride ldb): Σ_i a_i ⊗ b_i.</summary>
    public static void AddTransposedProduct(WorkerPool pool, float* c, int rows, int cols, float* a, int lda, float* b, int ldb, int n, float alpha)
    {
        int per = Math.Max(1, rows / (pool.ThreadCount * 4));
        ParallelFor.Run(pool, (rows + per - 1) / per, (item, _) =>
        {
            int r1 = Math.Min(rows, (item + 1) * per);
            for (int r = item * per; r < r1; r++)
            {
                var cr = new Span<float>(c + (long)r * cols, cols);
                for (int i = 0; i < n; i++)
                {
                    float coef = alpha * a[(long)i * lda + r];
                    if (coef != 0) TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(b + (long)i * ldb, cols), coef, cr, cr);
                }
            }
        });
    }

    /// <summary>c[n, cols] (stride ldc) += alpha · a[n, p] · b[p, cols].</summary>
    public static void AddProduct(WorkerPool pool, float* c, int ldc, float* a, int lda, float* b, int n, int p, int cols, float alpha)
    {
        int per = Math.Max(1, n / (pool.ThreadCount * 4));
        ParallelFor.Run(pool, (n + per - 1) / per, (item, _) =>
        {
            int i1 = Math.Min(n, (item + 1) * per);
            for (int i = item * per; i < i1; i++)
            {
                var ci = new Span<float>(c + (long)i * ldc, cols);
                for (int k = 0; k < p; k++)
                {
                    float coef = alpha * a[(long)i * lda + k];
                    if (coef != 0) TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(b + (long)k * cols, cols), coef, ci, ci);
                }
            }
        });
    }

    /// <summary>
    /// dx[n, in] += dy[n, out] · W[out, in] for a frozen weight matrix of any storage type: blocks of W's rows
    /// are dequantized by the thread that handles them and applied to every input row; each thread sums
    /// into its own buffer, added together at the end (so W is read once, whatever its format).
    /// </summary>
    public static void AddProductFrozen(WorkerPool pool, Matrix w, float* dy, int ldy, int n, float* dx, int ldx, ref NativeBuffer scratch)
    {
        int outF = w.Rows, inF = w.Cols, threads = pool.ThreadCount;
        const int Block = 32;
        long partial = (long)n * inF;
        long tile = (long)Block * inF;
        scratch.EnsureCapacity((threads * (partial + tile) + 16) * sizeof(float));
        float* baseP = (float*)scratch.Pointer;
        new Span<float>(baseP, (int)Math.Min(int.MaxValue, threads * partial)).Clear();
        if (threads * partial > int.MaxValue) throw new NotSupportedException("backward matmul scratch above 8 GB");
        int blocks = (outF + Block - 1) / Block;
        ParallelFor.Run(pool, blocks, (item, worker) =>
        {
            float* acc = baseP + worker * partial;
            float* t = baseP + threads * partial + worker * tile;
            int r0 = item * Block, r1 = Math.Min(outF, r0 + Block);
            for (int r = r0; r < r1; r++) w.DequantizeRow(r, new Span<float>(t + (long)(r - r0) * inF, inF));
            for (int i = 0; i < n; i++) AddRows(acc + (long)i * inF, t, inF, dy + (long)i * ldy + r0, r1 - r0);
        });
        int per = Math.Max(1, n / (threads * 4));
        ParallelFor.Run(pool, (n + per - 1) / per, (item, _) =>
        {
            int i1 = Math.Min(n, (item + 1) * per);
            for (int i = item * per; i < i1; i++)
            {
                var di = new Span<float>(dx + (long)i * ldx, inF);
                for (int wk = 0; wk < threads; wk++)
                    TensorPrimitives.Add(di, new ReadOnlySpan<float>(baseP + wk * partial + (long)i * inF, inF), di);
            }
        });
    }

    /// <summary>
    /// y[n, out] (stride ldy) = x[n, in] · Wᵀ for a frozen matrix whose own kernel would quantize the input
    /// (GGUF block formats): blocks of W's rows are dequantized and multiplied in f32, so the activations
    /// stay exact and the forward pass is the function the backward pass differentiates (QLoRA computes
    /// with dequantized weights too). Each block writes its own output columns.
    /// </summary>
    public static void ProductFrozen(WorkerPool pool, Matrix w, float* x, int n, float* y, int ldy, ref NativeBuffer scratch)
    {
        int outF = w.Rows, inF = w.Cols, threads = pool.ThreadCount;
        const int Block = 32;
        long tile = (long)Block * inF;
        scratch.EnsureCapacity((threads * tile + 16) * sizeof(float));
        float* baseP = (float*)scratch.Pointer;
        ParallelFor.Run(pool, (outF + Block - 1) / Block, (item, worker) =>
        {
            float* t = baseP + worker * tile;
            int r0 = item * Block, r1 = Math.Min(outF, r0 + Block);
            for (int r = r0; r < r1; r++) w.DequantizeRow(r, new Span<float>(t + (long)(r - r0) * inF, inF));
            for (int i = 0; i < n; i++)
            {
                float* xi = x + (long)i * inF;
                for (int r = r0; r < r1; r++)
                    y[(long)i * ldy + r] = QwenSharp.Tensors.Kernels.FloatDot.Dot(t + (long)(r - r0) * inF, xi, inF);
            }
        });
    }

    /// <summary>acc[0..inF) += Σ_r coef[r] · tile[r, :], four tile rows per pass over acc (acc is loaded and stored once per four rows).</summary>
    static void AddRows(float* acc, float* tile, int inF, float* coef, int rows)
    {
        int r = 0;
        for (; r + 4 <= rows; r += 4)
        {
            float c0 = coef[r], c1 = coef[r + 1], c2 = coef[r + 2], c3 = coef[r + 3];
            if (c0 == 0 && c1 == 0 && c2 == 0 && c3 == 0) continue;
            float* t0 = tile + (long)r * inF, t1 = t0 + inF, t2 = t1 + inF, t3 = t2 + inF;
            int k = 0;
            if (Vector256.IsHardwareAccelerated)
            {
                Vector256<float> v0 = Vector256.Create(c0), v1 = Vector256.Create(c1), v2 = Vector256.Create(c2), v3 = Vector256.Create(c3);
                for (; k + 8 <= inF; k += 8)
                {
                    var a = Vector256.Load(acc + k);
                    a = Vector256.FusedMultiplyAdd(Vector256.Load(t0 + k), v0, a);
                    a = Vector256.FusedMultiplyAdd(Vector256.Load(t1 + k), v1, a);
                    a = Vector256.FusedMultiplyAdd(Vector256.Load(t2 + k), v2, a);
                    a = Vector256.FusedMultiplyAdd(Vector256.Load(t3 + k), v3, a);
                    a.Store(acc + k);
                }
            }
            for (; k < inF; k++) acc[k] += c0 * t0[k] + c1 * t1[k] + c2 * t2[k] + c3 * t3[k];
        }
        for (; r < rows; r++)
        {
            float c = coef[r];
            if (c == 0) continue;
            var a = new Span<float>(acc, inF);
            TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(tile + (long)r * inF, inF), c, a, a);
        }
    }
}
