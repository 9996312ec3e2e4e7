using System.Numerics.Tensors;

namespace QwenSharp.Training.Ops;

/// <summary>
/// RMSNorm with its backward pass: y = x · r · w with r = 1 / sqrt(mean(x²) + eps), row by row.
/// dx = r · (dy∘w) − x · r³ · Σ(dy∘w∘x) / d. The weight w is frozen (no gradient).
/// </summary>
public static unsafe class RmsNormOp
{
    /// <summary>y = norm(x) · w for <paramref name="rows"/> rows of d; rstd[row] receives r (for the backward pass).</summary>
    public static void Forward(float* x, float* w, float* y, float* rstd, int rows, int d, float eps)
    {
        for (int i = 0; i < rows; i++)
        {
            var xs = new ReadOnlySpan<float>(x + (long)i * d, d);
            float ss = TensorPrimitives.Dot(xs, xs);
            float r = 1f / MathF.Sqrt(ss / d + eps);
            rstd[i] = r;
            var ys = new Span<float>(y + (long)i * d, d);
            TensorPrimitives.Multiply(xs, r, ys);
            TensorPrimitives.Multiply(ys, new ReadOnlySpan<float>(w, d), ys);
        }
    }

    /// <summary>dx += d(loss)/dx given dy, the forward input x and its rstd.</summary>
    public static void Backward(float* x, float* w, float* rstd, float* dy, float* dx, int rows, int d)
    {
        for (int i = 0; i < rows; i++)
        {
            float* xi = x + (long)i * d, gi = dy + (long)i * d, di = dx + (long)i * d;
            float r = rstd[i];
            double dot = 0;
            for (int k = 0; k < d; k++) dot += (double)gi[k] * w[k] * xi[k];
            float c = (float)(dot * r * r * r / d);
            for (int k = 0; k < d; k++) di[k] += r * gi[k] * w[k] - c * xi[k];
        }
    }
}
