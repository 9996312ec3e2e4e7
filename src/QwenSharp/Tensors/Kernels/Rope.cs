using System.Runtime.Intrinsics;
namespace QwenSharp.Tensors.Kernels;

/// <summary>
/// Rotary position embedding in the rotate-half form (Hugging Face's apply_rotary_pos_emb; llama.cpp's
/// NEOX mode): for i &lt; d/2, (x_i, x_{i+d/2}) is rotated by angle position · inv_freq_i.
/// </summary>
public static unsafe class Rope
{
    /// <summary>Fills cos/sin (length d/2 each) for one position, scaled by <paramref name="attentionFactor"/> (YaRN).</summary>
    public static void Angles(int position, ReadOnlySpan<double> invFreq, float attentionFactor, float* cos, float* sin)
    {
        for (int i = 0; i < invFreq.Length; i++)
        {
            double a = position * invFreq[i];
            cos[i] = (float)(Math.Cos(a) * attentionFactor);
            sin[i] = (float)(Math.Sin(a) * attentionFactor);
        }
    }

    /// <summary>Rotates <paramref name="heads"/> consecutive heads of size d in place.</summary>
    public static void Apply(float* v, int heads, int d, float* cos, float* sin)
    {
        int half = d / 2;
        for (int h = 0; h < heads; h++)
        {
            float* x = v + h * d;
            int i = 0;
            // Plain multiplies and adds (no FMA), so the vector path rounds exactly like the scalar one.
            for (; i + 8 <= half; i += 8)
            {
                var x1 = Vector256.Load(x + i);
                var x2 = Vector256.Load(x + i + half);
                var c = Vector256.Load(cos + i);
                var s = Vector256.Load(sin + i);
                (x1 * c - x2 * s).Store(x + i);
                (x2 * c + x1 * s).Store(x + i + half);
            }
            for (; i < half; i++)
            {
                float x1 = x[i], x2 = x[i + half];
                x[i] = x1 * cos[i] - x2 * sin[i];
                x[i + half] = x2 * cos[i] + x1 * sin[i];
            }
        }
    }
}
