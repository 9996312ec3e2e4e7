using System.Numerics.Tensors;

namespace QwenSharp.Tensors.Kernels;

/// <summary>Pieces of attention over one block of cached keys/values (f32 or f16 storage).</summary>
public static unsafe class AttentionKernels
{
    /// <summary>scores[j] = scale · q · k_j for j &lt; count; keys are contiguous rows of d elements.</summary>
    public static void Scores(float* q, byte* keys, int count, int d, bool f16, float scale, float* scores)
    {
        if (f16)
        {
            ushort* k = (ushort*)keys;
            for (int j = 0; j < count; j++) scores[j] = FloatDot.DotHalf(k + (long)j * d, q, d, bf16: false) * scale;
        }
        else
        {
            float* k = (float*)keys;
            for (int j = 0; j < count; j++) scores[j] = FloatDot.Dot(k + (long)j * d, q, d) * scale;
        }
    }

    /// <summary>output += Σ_j p[j] · v_j for j &lt; count.</summary>
    public static void AccumulateValues(float* p, byte* values, int count, int d, bool f16, float* output, float* rowScratch)
    {
        var o = new Span<float>(output, d);
        if (f16)
        {
            ushort* v = (ushort*)values;
            for (int j = 0; j < count; j++)
            {
                FloatDot.ConvertRow(v + (long)j * d, rowScratch, d, bf16: false);
                TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(rowScratch, d), p[j], o, o);
            }
        }
        else
        {
            float* v = (float*)values;
            for (int j = 0; j < count; j++)
                TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(v + (long)j * d, d), p[j], o, o);
        }
    }

    /// <summary>Stores a row of d floats as f32 or f16.</summary>
    public static void Store(float* src, byte* dst, int d, bool f16)
    {
        if (f16)
        {
            var h = new Span<Half>(dst, d);
            TensorPrimitives.ConvertToHalf(new ReadOnlySpan<float>(src, d), h);
        }
        else Buffer.MemoryCopy(src, dst, d * 4, d * 4);
    }
}
