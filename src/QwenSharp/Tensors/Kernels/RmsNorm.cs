using System.Numerics.Tensors;
using System.Runtime.Intrinsics;

namespace QwenSharp.Tensors.Kernels;

/// <summary>
/// RMSNorm: y = x / sqrt(mean(x²) + eps) · w (Hugging Face's Qwen2RMSNorm, computed in f32). The sum of
/// squares is accumulated in f64 from f32 products, and the result is (x · scale) · w, the order ggml
/// uses, so quantized activations downstream round the way llama.cpp's do.
/// </summary>
public static unsafe class RmsNorm
{
    /// <summary>Normalizes one row of length <paramref name="d"/>; x and y may be the same.</summary>
    public static void Row(float* x, float* w, float* y, int d, float eps)
    {
        double ss = SumOfSquares(x, d);
        float mean = (float)(ss / d);
        float scale = 1f / MathF.Sqrt(mean + eps);
        var ys = new Span<float>(y, d);
        TensorPrimitives.Multiply(new ReadOnlySpan<float>(x, d), scale, ys);
        TensorPrimitives.Multiply(ys, new ReadOnlySpan<float>(w, d), ys);
    }

    /// <summary>Σ x² with each square rounded to f32 and the sum kept in f64.</summary>
    static double SumOfSquares(float* x, int d)
    {
        int i = 0;
        double s = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var acc0 = Vector256<double>.Zero;
            var acc1 = Vector256<double>.Zero;
            for (; i + 8 <= d; i += 8)
            {
                var v = Vector256.Load(x + i);
                var sq = v * v;
                var (lo, hi) = Vector256.Widen(sq);
                acc0 += lo;
                acc1 += hi;
            }
            s = Vector256.Sum(acc0 + acc1);
        }
        for (; i < d; i++) s += x[i] * x[i];
        return s;
    }

    /// <summary>Normalizes <paramref name="rows"/> rows of length d (stride d) in place or into y.</summary>
    public static void Rows(float* x, float* w, float* y, int rows, int d, float eps)
    {
        for (int r = 0; r < rows; r++) Row(x + (long)r * d, w, y + (long)r * d, d, eps);
    }

    public static void Reference(ReadOnlySpan<float> x, ReadOnlySpan<float> w, Span<float> y, float eps)
    {
        double ss = 0;
        foreach (var v in x) ss += (double)v * v;
        double scale = 1 / Math.Sqrt(ss / x.Length + eps);
        for (int i = 0; i < x.Length; i++) y[i] = (float)(x[i] * scale * w[i]);
    }
}
