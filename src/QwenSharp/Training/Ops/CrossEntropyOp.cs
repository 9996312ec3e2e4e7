using QwenSharp.Engine;
using QwenSharp.Tensors;

namespace QwenSharp.Training.Ops;

/// <summary>
/// The LM head and the cross-entropy loss, with the backward pass: for each row with a label,
/// z = h·Eᵀ, loss = logsumexp(z) − z[label], dz = (softmax(z) − onehot(label)) · lossScale, dh = dz·E.
/// Rows are processed in chunks, so the [rows, vocab] logits never exist whole; rows without a label
/// (label &lt; 0) are skipped entirely (no LM head work).
/// </summary>
public sealed unsafe class CrossEntropyOp(WorkerPool pool) : IDisposable
{
    const int Chunk = 32;
    readonly MatMul _matmul = new(pool);
    NativeBuffer _buf = new(0), _frozenScratch = new(0);

    /// <summary>
    /// Sums the loss over labeled rows of h [n, hidden] (returned, in double). With <paramref name="dh"/>
    /// not null, also dh[i] += d(lossScale · Σ loss)/dh[i] for labeled rows.
    /// </summary>
    public double Run(Matrix lmHead, float* h, int[] labels, int n, float lossScale, float* dh)
    {
        int hidden = lmHead.Cols, vocab = lmHead.Rows;
        var rows = new List<int>();
        for (int i = 0; i < n; i++)
            if (labels[i] >= 0)
            {
                if (labels[i] >= vocab) throw new ArgumentException($"label {labels[i]} at row {i} is outside the vocabulary (0..{vocab - 1})");
                rows.Add(i);
            }
        _buf.EnsureCapacity(((long)Chunk * hidden * 2 + (long)Chunk * vocab + 64) * sizeof(float));
        float* hc = (float*)_buf.Pointer;
        float* dhc = hc + (long)Chunk * hidden;
        float* z = dhc + (long)Chunk * hidden;
        var losses = new double[Chunk];
        double total = 0;
        for (int c0 = 0; c0 < rows.Count; c0 += Chunk)
        {
            int m = Math.Min(Chunk, rows.Count - c0);
            for (int j = 0; j < m; j++)
                Buffer.MemoryCopy(h + (long)rows[c0 + j] * hidden, hc + (long)j * hidden, hidden * 4L, hidden * 4L);
            if (lmHead.InputFormat == InputFormat.F32) _matmul.Run(lmHead, hc, hidden, m, z, vocab);
            else DenseOps.ProductFrozen(pool, lmHead, hc, m, z, vocab, ref _frozenScratch);
            bool backward = dh != null;
            ParallelFor.Run(pool, m, (j, _) =>
            {
                var zj = new Span<float>(z + (long)j * vocab, vocab);
                int label = labels[rows[c0 + j]];
                float max = System.Numerics.Tensors.TensorPrimitives.Max(zj);
                double sum = 0;
                for (int v = 0; v < vocab; v++) sum += Math.Exp(zj[v] - max);
                double lse = max + Math.Log(sum);
                losses[j] = lse - zj[label];
                if (!backward) return;
                float inv = (float)(1 / sum);
                for (int v = 0; v < vocab; v++) zj[v] = MathF.Exp(zj[v] - max) * inv * lossScale;
                zj[label] -= lossScale;
            });
            for (int j = 0; j < m; j++) total += losses[j];
            if (dh == null) continue;
            new Span<float>(dhc, m * hidden).Clear();
            DenseOps.AddProductFrozen(pool, lmHead, z, vocab, m, dhc, hidden, ref _frozenScratch);
            for (int j = 0; j < m; j++)
            {
                var dst = new Span<float>(dh + (long)rows[c0 + j] * hidden, hidden);
                System.Numerics.Tensors.TensorPrimitives.Add(dst, new ReadOnlySpan<float>(dhc + (long)j * hidden, hidden), dst);
            }
        }
        return total;
    }

    public void Dispose()
    {
        _matmul.Dispose();
        _buf.Dispose();
        _frozenScratch.Dispose();
    }
}
