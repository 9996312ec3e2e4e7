using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using QwenSharp.Tensors.Quantization;

namespace QwenSharp.Tensors.Kernels;

/// <summary>Pieces of attention over one block of cached keys/values (F32, F16 or Q8_0 storage).</summary>
public static unsafe class AttentionKernels
{
    /// <summary>Bytes of one cached row of d elements.</summary>
    public static int RowBytes(GgmlType type, int d) => type switch
    {
        GgmlType.F32 => d * 4,
        GgmlType.F16 => d * 2,
        GgmlType.Q8_0 => d / 32 * 34,
        _ => throw new NotSupportedException($"KV rows of type {type}"),
    };

    /// <summary>scores[j] = scale · q · k_j for j &lt; count; keys are contiguous rows of d elements.</summary>
    public static void Scores(float* q, byte* keys, int count, int d, GgmlType type, float scale, float* scores, float* rowScratch = null)
    {
        switch (type)
        {
            case GgmlType.F16:
                {
                    ushort* k = (ushort*)keys;
                    for (int j = 0; j < count; j++) scores[j] = FloatDot.DotHalf(k + (long)j * d, q, d, bf16: false) * scale;
                    break;
                }
            case GgmlType.F32:
                {
                    float* k = (float*)keys;
                    for (int j = 0; j < count; j++) scores[j] = FloatDot.Dot(k + (long)j * d, q, d) * scale;
                    break;
                }
            default:
                {
                    int rb = RowBytes(type, d);
                    if (rowScratch == null) throw new ArgumentNullException(nameof(rowScratch), "quantized keys need a row of scratch");
                    float* row = rowScratch;
                    for (int j = 0; j < count; j++)
                    {
                        BlockDequantizer.Row(type, keys + (long)j * rb, row, d);
                        scores[j] = FloatDot.Dot(row, q, d) * scale;
                    }
                    break;
                }
        }
    }

    /// <summary>output += Σ_j p[j] · v_j for j &lt; count.</summary>
    public static void AccumulateValues(float* p, byte* values, int count, int d, GgmlType type, float* output, float* rowScratch)
    {
        var o = new Span<float>(output, d);
        switch (type)
        {
            case GgmlType.F32:
                {
                    float* v = (float*)values;
                    for (int j = 0; j < count; j++)
                        TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(v + (long)j * d, d), p[j], o, o);
                    break;
                }
            case GgmlType.F16:
                {
                    ushort* v = (ushort*)values;
                    for (int j = 0; j < count; j++)
                    {
                        FloatDot.ConvertRow(v + (long)j * d, rowScratch, d, bf16: false);
                        TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(rowScratch, d), p[j], o, o);
                    }
                    break;
                }
            default:
                {
                    int rb = RowBytes(type, d);
                    for (int j = 0; j < count; j++)
                    {
                        BlockDequantizer.Row(type, values + (long)j * rb, rowScratch, d);
                        TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(rowScratch, d), p[j], o, o);
                    }
                    break;
                }
        }
    }

    /// <summary>Row j of a block of cached rows as f32: in place for F32, else converted into <paramref name="rowScratch"/> (d floats).</summary>
    public static float* RowAsFloat(byte* rows, int j, int d, GgmlType type, float* rowScratch)
    {
        switch (type)
        {
            case GgmlType.F32: return (float*)rows + (long)j * d;
            case GgmlType.F16: FloatDot.ConvertRow((ushort*)rows + (long)j * d, rowScratch, d, bf16: false); return rowScratch;
            default: BlockDequantizer.Row(type, rows + (long)j * RowBytes(type, d), rowScratch, d); return rowScratch;
        }
    }

    /// <summary>q · k over d floats: the same operations and order as <see cref="FloatDot.Dot"/> on AVX2 (one FMA chain), inlined.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Dot(float* k, float* q, int d)
    {
        if (!Vector256.IsHardwareAccelerated || Vector512.IsHardwareAccelerated || d % 8 != 0) return FloatDot.Dot(k, q, d);
        var a = Vector256<float>.Zero;
        for (int i = 0; i < d; i += 8) a = Vector256.FusedMultiplyAdd(Vector256.Load(k + i), Vector256.Load(q + i), a);
        return Vector256.Sum(a);
    }

    /// <summary>o += v · p over d floats (multiply, then add: as TensorPrimitives.MultiplyAdd).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void AddScaled(float* o, float* v, float p, int d)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var pv = Vector256.Create(p);
            for (; i + 8 <= d; i += 8) (Vector256.Load(o + i) + Vector256.Load(v + i) * pv).Store(o + i);
        }
        for (; i < d; i++) o[i] += v[i] * p;
    }

    /// <summary>Stores a row of d floats as F32, F16 or Q8_0.</summary>
    public static void Store(float* src, byte* dst, int d, GgmlType type)
    {
        switch (type)
        {
            case GgmlType.F16: TensorPrimitives.ConvertToHalf(new ReadOnlySpan<float>(src, d), new Span<Half>(dst, d)); break;
            case GgmlType.F32: Buffer.MemoryCopy(src, dst, d * 4, d * 4); break;
            default: BlockQuantizer.Row(type, src, dst, d); break;
        }
    }
}
