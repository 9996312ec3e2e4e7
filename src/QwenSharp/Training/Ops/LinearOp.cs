using QwenSharp.Engine;
using QwenSharp.Models;
using QwenSharp.Tensors;

namespace QwenSharp.Training.Ops;

/// <summary>
/// A frozen linear layer with an optional trained LoRA pair: y = x·Wᵀ + b + s·(x·Aᵀ)·Bᵀ.
/// Backward (with t = x·Aᵀ kept from the forward pass): dB += s·dyᵀ·t, dt = s·dy·B, dA += dtᵀ·x,
/// dx += dy·W + dt·A. W and b receive no gradient. A quantized W is dequantized block by block and
/// multiplied in f32 in both passes (its inference kernel would quantize the activations too).
/// </summary>
public sealed unsafe class LinearOp(WorkerPool pool) : IDisposable
{
    readonly MatMul _matmul = new(pool);
    NativeBuffer _scratch = new(0), _frozenScratch = new(0);

    public WorkerPool Pool => pool;

    /// <summary>y[n, out] = x[n, in]·Wᵀ + b (+ LoRA); t[n, rank] receives x·Aᵀ when <paramref name="lora"/> is given.</summary>
    public void Forward(Linear lin, LoraParameter? lora, float* x, int n, float* y, float* t)
    {
        int inF = lin.InFeatures, outF = lin.OutFeatures;
        if (lin.Weight.InputFormat == InputFormat.F32) _matmul.Run(lin.Weight, x, inF, n, y, outF);
        else DenseOps.ProductFrozen(pool, lin.Weight, x, n, y, outF, ref _frozenScratch);
        if (lin.Bias is { } bias)
            fixed (float* b = bias)
                for (int i = 0; i < n; i++)
                    System.Numerics.Tensors.TensorPrimitives.Add(new ReadOnlySpan<float>(y + (long)i * outF, outF), new ReadOnlySpan<float>(b, outF), new Span<float>(y + (long)i * outF, outF));
        if (lora is null) return;
        var w = lora.Weights;
        int r = w.Rank;
        fixed (float* a = w.A, bm = w.B)
        {
            _matmul.Run(new F32Matrix(a, r, inF), x, inF, n, t, r);
            _scratch.EnsureCapacity((long)n * outF * sizeof(float));
            float* u = (float*)_scratch.Pointer;
            _matmul.Run(new F32Matrix(bm, outF, r), t, r, n, u, outF);
            var ys = new Span<float>(y, n * outF);
            System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(u, n * outF), w.Scale, ys, ys);
        }
    }

    /// <summary>
    /// Accumulates LoRA gradients and, when <paramref name="dx"/> is not null, dx += d(loss)/dx,
    /// given the forward input x, t = x·Aᵀ and dy.
    /// </summary>
    public void Backward(Linear lin, LoraParameter? lora, float* x, float* t, float* dy, int n, float* dx)
    {
        int inF = lin.InFeatures, outF = lin.OutFeatures;
        if (lora != null)
        {
            var w = lora.Weights;
            int r = w.Rank;
            _scratch.EnsureCapacity((long)n * r * sizeof(float));
            float* dt = (float*)_scratch.Pointer;
            new Span<float>(dt, n * r).Clear();
            fixed (float* a = w.A, b = w.B, ga = lora.GradA, gb = lora.GradB)
            {
                DenseOps.AddTransposedProduct(pool, gb, outF, r, dy, outF, t, r, n, w.Scale);   // dB += s·dyᵀ·t
                DenseOps.AddProduct(pool, dt, r, dy, outF, b, n, outF, r, w.Scale);            // dt = s·dy·B
                DenseOps.AddTransposedProduct(pool, ga, r, inF, dt, r, x, inF, n, 1f);         // dA += dtᵀ·x
                if (dx != null) DenseOps.AddProduct(pool, dx, inF, dt, r, a, n, r, inF, 1f);    // dx += dt·A
            }
        }
        if (dx != null) DenseOps.AddProductFrozen(pool, lin.Weight, dy, outF, n, dx, inF, ref _frozenScratch);
    }

    public void Dispose()
    {
        _matmul.Dispose();
        _scratch.Dispose();
        _frozenScratch.Dispose();
    }
}
