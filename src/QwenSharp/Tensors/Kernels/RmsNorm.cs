using System.Numerics.Tensors;

namespace QwenSharp.Tensors.Kernels;

/// <summary>RMSNorm: y = x / sqrt(mean(x²) + eps) · w (Hugging Face's Qwen2RMSNorm, computed in f32).</summary>
public static unsafe class RmsNorm
{
    /// <summary>Normalizes one row of length <paramref name="d"/>; x and y may be the same.</summary>
    public static void Row(float* x, float* w, float* y, int d, float eps)
    {
        var xs = new ReadOnlySpan<float>(x, d);
        float ss = TensorPrimitives.Dot(xs, xs);
        float scale = 1f / MathF.Sqrt(ss / d + eps);
        var ys = new Span<float>(y, d);
        TensorPrimitives.Multiply(xs, scale, ys);
        TensorPrimitives.Multiply(ys, new ReadOnlySpan<float>(w, d), ys);
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
