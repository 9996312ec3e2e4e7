namespace QwenSharp.Training.Ops;

/// <summary>
/// SwiGLU: a = silu(g) · u with silu(g) = g · σ(g). Backward: du = da · silu(g),
/// dg = da · u · σ(g) · (1 + g · (1 − σ(g))).
/// </summary>
public static unsafe class SwiGluOp
{
    public static void Forward(float* g, float* u, float* a, long count)
    {
        for (long i = 0; i < count; i++)
        {
            float x = g[i];
            a[i] = x / (1f + MathF.Exp(-x)) * u[i];
        }
    }

    /// <summary>Writes dg and du (not accumulated).</summary>
    public static void Backward(float* g, float* u, float* da, float* dg, float* du, long count)
    {
        for (long i = 0; i < count; i++)
        {
            float x = g[i];
            float s = 1f / (1f + MathF.Exp(-x));
            float silu = x * s;
            du[i] = da[i] * silu;
            dg[i] = da[i] * u[i] * s * (1f + x * (1f - s));
        }
    }
}
