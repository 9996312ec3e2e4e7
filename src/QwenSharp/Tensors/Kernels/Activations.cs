using System.Numerics.Tensors;
using System.Runtime.Intrinsics;

namespace QwenSharp.Tensors.Kernels;

/// <summary>Elementwise activations and softmax.</summary>
public static unsafe class Activations
{
    /// <summary>gate[i] = silu(gate[i]) · up[i] (SwiGLU), n elements.</summary>
    public static void SiluMul(float* gate, float* up, long n)
    {
        // silu(x) = x / (1 + exp(-x)), in ggml's order (a division, not x · sigmoid(x)), so the product
        // rounds as llama.cpp's does before it is quantized for the down projection. In chunks through a
        // stack buffer: no scratch the size of the activations.
        const int Chunk = 1024;
        float* buf = stackalloc float[Chunk];
        var s = new Span<float>(buf, Chunk);
        for (long i0 = 0; i0 < n; i0 += Chunk)
        {
            int m = (int)Math.Min(Chunk, n - i0);
            var g = new Span<float>(gate + i0, m);
            var t = s[..m];
            TensorPrimitives.Negate(g, t);
            TensorPrimitives.Exp(t, t);
            TensorPrimitives.Add(t, 1f, t);
            TensorPrimitives.Divide(g, t, g);
            TensorPrimitives.Multiply(g, new ReadOnlySpan<float>(up + i0, m), g);
        }
    }

    /// <summary>In-place softmax over n values.</summary>
    public static void Softmax(float* x, int n)
    {
        var s = new Span<float>(x, n);
        float max = TensorPrimitives.Max(s);
        TensorPrimitives.Subtract(s, max, s);
        TensorPrimitives.Exp(s, s);
        // Summed in f64 as ggml does (four lanes, then across them), then scaled by the f32 reciprocal.
        double sum = 0;
        int i = 0;
        if (Vector256.IsHardwareAccelerated && n >= 8)
        {
            Vector256<double> a = default, b = default;
            for (; i + 8 <= n; i += 8)
            {
                var f = Vector256.Load(x + i);
                a += Vector256.WidenLower(f);
                b += Vector256.WidenUpper(f);
            }
            sum = Vector256.Sum(a + b);
        }
        for (; i < n; i++) sum += x[i];
        TensorPrimitives.Multiply(s, (float)(1.0 / sum), s);
    }

    public static float Sigmoid(float x) => 1f / (1f + MathF.Exp(-x));
}
