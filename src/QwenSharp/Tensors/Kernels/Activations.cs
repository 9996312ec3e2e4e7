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
        // silu(x) = x / (1 + exp(-x)), in ggml's order (a division, not x · sigmoid(x)), so the product
        // rounds as llama.cpp's does before it is quantized for the down projection.
        TensorPrimitives.Negate(g, s);
        TensorPrimitives.Exp(s, s);
        TensorPrimitives.Add(s, 1f, s);
        TensorPrimitives.Divide(g, s, g);
        TensorPrimitives.Multiply(g, new ReadOnlySpan<float>(up, n), g);
    }

    /// <summary>In-place softmax over n values.</summary>
    public static void Softmax(float* x, int n)
    {
        var s = new Span<float>(x, n);
        float max = TensorPrimitives.Max(s);
        TensorPrimitives.Subtract(s, max, s);
        TensorPrimitives.Exp(s, s);
        // Summed in f64 as ggml does, then scaled by the f32 reciprocal.
        double sum = 0;
        for (int i = 0; i < n; i++) sum += x[i];
        TensorPrimitives.Multiply(s, (float)(1.0 / sum), s);
    }

    public static float Sigmoid(float x) => 1f / (1f + MathF.Exp(-x));
}
