using QwenSharp.Tensors.Kernels;

namespace QwenSharp.Training.Ops;

/// <summary>
/// Rotary position embedding (rotate-half form) and its backward pass. Forward rotates each pair
/// (x_i, x_{i+d/2}) by the position's angle; the backward pass rotates the gradient by the opposite angle.
/// </summary>
public static unsafe class RopeOp
{
    /// <summary>Rotates <paramref name="heads"/> heads of size d in place (the inference kernel).</summary>
    public static void Forward(float* v, int heads, int d, float* cos, float* sin) => Rope.Apply(v, heads, d, cos, sin);

    /// <summary>Turns the gradient of the rotated vector into the gradient of the input, in place.</summary>
    public static void Backward(float* dv, int heads, int d, float* cos, float* sin)
    {
        int half = d / 2;
        for (int h = 0; h < heads; h++)
        {
            float* g = dv + h * d;
            for (int i = 0; i < half; i++)
            {
                float g1 = g[i], g2 = g[i + half];
                g[i] = g1 * cos[i] + g2 * sin[i];
                g[i + half] = g2 * cos[i] - g1 * sin[i];
            }
        }
    }
}
