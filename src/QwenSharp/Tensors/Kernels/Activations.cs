using System.Numerics.Tensors;

namespace QwenSharp.Tensors.Kernels;

/// <summary>Elementwise activations and softmax.</summary>
public static unsafe class Activations
{
    /// <summary>gate[i] = silu(gate[i]) · up[i] (SwiGLU), n elements.</summary>
    public static void SiluMul(float* gate, float* up, int n, float* scratch)
    {
        var g = new Span<float>(gate, n);
        var s = new Span<float>(scratch, n);
        // silu(x) = x · sigmoid(x)
        TensorPrimitives.Sigmoid(g, s);
        TensorPrimitives.Multiply(g, s, g);
        TensorPrimitives.Multiply(g, new ReadOnlySpan<float>(up, n), g);
    }

    /// <summary>In-place softmax over n values.</summary>
    public static void Softmax(float* x, int n)
    {
        var s = new Span<float>(x, n);
        float max = TensorPrimitives.Max(s);
        TensorPrimitives.Subtract(s, max, s);
        TensorPrimitives.Exp(s, s);
        float sum = TensorPrimitives.Sum(s);
        TensorPrimitives.Multiply(s, 1f / sum, s);
    }

    public static float Sigmoid(float x) => 1f / (1f + MathF.Exp(-x));
}
