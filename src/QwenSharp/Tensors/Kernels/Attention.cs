using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
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

    /// <summary>
    /// Scores of <paramref name="group"/> query heads (q_h at q + h·d) against the <paramref name="count"/> cached keys of
    /// one block: s[h·sStride + j] = scale · q_h · k_j. F16 and F32 keys with d a multiple of 8 take the AVX2 tile
    /// (4 keys × 2 heads, each key converted once per head pair, 8 independent FMA chains), and so do Q8_0 keys
    /// (widened and scaled in registers); other cases convert row by row. Every token and batch uses this same kernel, so decode and prefill agree bit for bit.
    /// </summary>
    public static void BlockScores(byte* keys, int count, int d, GgmlType type, float* q, int group, float scale, float* s, long sStride, float* rowScratch)
    {
        if (Fma.IsSupported && Avx2.IsSupported && d % 8 == 0)
        {
            if (type == GgmlType.F16) { ScoreTiles<F16Row>(keys, count, d, q, group, scale, s, sStride); return; }
            if (type == GgmlType.F32) { ScoreTiles<F32Row>(keys, count, d, q, group, scale, s, sStride); return; }
            if (type == GgmlType.Q8_0 && d % 32 == 0) { ScoreTiles<Q8Row>(keys, count, d, q, group, scale, s, sStride); return; }
        }
        for (int j = 0; j < count; j++)
        {
            float* k = RowAsFloat(keys, j, d, type, rowScratch);
            for (int h = 0; h < group; h++) s[h * sStride + j] = Dot(k, q + h * d, d) * scale;
        }
    }

    /// <summary>
    /// out_h += Σ_j p[h·pStride + j] · v_j for the <paramref name="group"/> heads (out_h at output + h·d) and the
    /// <paramref name="count"/> cached values of one block, in position order for every element. F16, F32 and Q8_0
    /// values with d a multiple of 32 take the AVX2 tile (32 elements × 2 heads in registers across the block).
    /// </summary>
    public static void BlockAccumulate(byte* values, int count, int d, GgmlType type, float* p, long pStride, int group, float* output, float* rowScratch)
    {
        if (Fma.IsSupported && Avx2.IsSupported && d % 32 == 0)
        {
            if (type == GgmlType.F16) { AccumulateTiles<F16Row>(values, count, d, p, pStride, group, output); return; }
            if (type == GgmlType.F32) { AccumulateTiles<F32Row>(values, count, d, p, pStride, group, output); return; }
            if (type == GgmlType.Q8_0) { AccumulateTiles<Q8Row>(values, count, d, p, pStride, group, output); return; }
        }
        for (int j = 0; j < count; j++)
        {
            float* v = RowAsFloat(values, j, d, type, rowScratch);
            for (int h = 0; h < group; h++) AddScaled(output + h * d, v, p[h * pStride + j], d);
        }
    }

    /// <summary>Asks for the bytes at p (cached rows about to be read) to be brought into cache.</summary>
    public static void Prefetch(byte* p, int bytes)
    {
        if (!Sse.IsSupported) return;
        for (int o = 0; o < bytes; o += 64) Sse.Prefetch0(p + o);
    }

    interface IRowLoad
    {
        /// <summary>Bytes of one stored row of d elements.</summary>
        static abstract long RowBytes(int d);
        /// <summary>The factor <see cref="Load8"/> leaves out: element = loaded value · Unit².</summary>
        static abstract float Unit { get; }
        /// <summary>8 elements starting at element i of the row at p, as f32, divided by Unit².</summary>
        static abstract Vector256<float> Load8(byte* p, int i);
    }

    struct F32Row : IRowLoad
    {
        public static long RowBytes(int d) => AttentionKernels.RowBytes(GgmlType.F32, d);
        public static float Unit => 1f;
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Load8(byte* p, int i) => Vector256.Load((float*)p + i);
    }

    struct F16Row : IRowLoad
    {
        public static long RowBytes(int d) => AttentionKernels.RowBytes(GgmlType.F16, d);
        /// <summary>2^56: the missing 2^112 is applied as 2^56 to the other operand and 2^56 to the result, so
        /// neither the products nor the operands leave the normal f32 range.</summary>
        public static float Unit => 72057594037927936f;
        // fp16 bits -> f32 · 2^-112: sign-extend each half to int32 and shift the exponent and mantissa into place
        // (the sign smears into bits 28..30, which the mask clears). Exact for finite values, subnormals included.
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Load8(byte* p, int i)
        {
            var w = Avx2.ConvertToVector256Int32((short*)p + i);
            return (Avx2.ShiftLeftLogical(w, 13) & Vector256.Create(unchecked((int)0x8FFFFFFF))).AsSingle();
        }
    }

    struct Q8Row : IRowLoad
    {
        public static long RowBytes(int d) => AttentionKernels.RowBytes(GgmlType.Q8_0, d);
        public static float Unit => 1f;
        // ggml's Q8_0 blocks (fp16 scale, 32 int8): 8 int8 values of one block, widened and scaled. The same products
        // d · q as the row-at-a-time dequantizer.
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Load8(byte* p, int i)
        {
            byte* block = p + (i >> 5) * 34;
            var q = Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32((sbyte*)block + 2 + (i & 31)));
            return q * Vector256.Create(Numerics.HalfToFloat(*(ushort*)block));
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector128<float> Sum4(Vector256<float> a0, Vector256<float> a1, Vector256<float> a2, Vector256<float> a3)
    {
        var t = Avx.HorizontalAdd(Avx.HorizontalAdd(a0, a1), Avx.HorizontalAdd(a2, a3));
        return t.GetLower() + t.GetUpper();
    }

    static void ScoreTiles<T>(byte* keys, int count, int d, float* q, int group, float scale, float* s, long sStride) where T : struct, IRowLoad
    {
        long rb = T.RowBytes(d);
        var unit = Vector256.Create(T.Unit);
        var sc = Vector128.Create(scale * T.Unit);
        float* tmp = stackalloc float[8];
        for (int h = 0; h < group; h += 2)
        {
            // An odd last head is computed twice (h1 = h0) and written once.
            bool two = h + 1 < group;
            float* q0 = q + (long)h * d, q1 = two ? q0 + d : q0;
            for (int j = 0; j < count; j += 4)
            {
                // Past the block's end the last key is read again and its scores are dropped.
                int n = Math.Min(4, count - j);
                byte* k0 = keys + j * rb;
                byte* k1 = keys + (j + Math.Min(1, n - 1)) * rb;
                byte* k2 = keys + (j + Math.Min(2, n - 1)) * rb;
                byte* k3 = keys + (j + Math.Min(3, n - 1)) * rb;
                Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
                Vector256<float> b0 = default, b1 = default, b2 = default, b3 = default;
                for (int i = 0; i < d; i += 8)
                {
                    var x0 = Vector256.Load(q0 + i) * unit;
                    var x1 = Vector256.Load(q1 + i) * unit;
                    var v0 = T.Load8(k0, i);
                    a0 = Fma.MultiplyAdd(v0, x0, a0); b0 = Fma.MultiplyAdd(v0, x1, b0);
                    var v1 = T.Load8(k1, i);
                    a1 = Fma.MultiplyAdd(v1, x0, a1); b1 = Fma.MultiplyAdd(v1, x1, b1);
                    var v2 = T.Load8(k2, i);
                    a2 = Fma.MultiplyAdd(v2, x0, a2); b2 = Fma.MultiplyAdd(v2, x1, b2);
                    var v3 = T.Load8(k3, i);
                    a3 = Fma.MultiplyAdd(v3, x0, a3); b3 = Fma.MultiplyAdd(v3, x1, b3);
                }
                var ra = Sum4(a0, a1, a2, a3) * sc;
                var rbv = Sum4(b0, b1, b2, b3) * sc;
                float* s0 = s + h * sStride + j;
                if (n == 4)
                {
                    ra.Store(s0);
                    if (two) rbv.Store(s0 + sStride);
                }
                else
                {
                    ra.Store(tmp); rbv.Store(tmp + 4);
                    for (int t = 0; t < n; t++)
                    {
                        s0[t] = tmp[t];
                        if (two) s0[sStride + t] = tmp[4 + t];
                    }
                }
            }
        }
    }

    static void AccumulateTiles<T>(byte* values, int count, int d, float* p, long pStride, int group, float* output) where T : struct, IRowLoad
    {
        long rb = T.RowBytes(d);
        float unitF = T.Unit;
        var unit = Vector256.Create(unitF);
        var inv = Vector256.Create(1f / unitF);
        for (int h = 0; h < group; h += 2)
        {
            bool two = h + 1 < group;
            float* p0 = p + h * pStride, p1 = two ? p0 + pStride : p0;
            float* o0 = output + (long)h * d, o1 = two ? o0 + d : o0;
            for (int i = 0; i < d; i += 32)
            {
                // The sums are kept divided by Unit (exact: a power of two) and scaled back when stored.
                var a0 = Vector256.Load(o0 + i) * inv; var a1 = Vector256.Load(o0 + i + 8) * inv;
                var a2 = Vector256.Load(o0 + i + 16) * inv; var a3 = Vector256.Load(o0 + i + 24) * inv;
                var b0 = Vector256.Load(o1 + i) * inv; var b1 = Vector256.Load(o1 + i + 8) * inv;
                var b2 = Vector256.Load(o1 + i + 16) * inv; var b3 = Vector256.Load(o1 + i + 24) * inv;
                byte* v = values;
                for (int j = 0; j < count; j++, v += rb)
                {
                    var w0 = Vector256.Create(p0[j] * unitF);
                    var w1 = Vector256.Create(p1[j] * unitF);
                    var v0 = T.Load8(v, i);
                    a0 = Fma.MultiplyAdd(v0, w0, a0); b0 = Fma.MultiplyAdd(v0, w1, b0);
                    var v1 = T.Load8(v, i + 8);
                    a1 = Fma.MultiplyAdd(v1, w0, a1); b1 = Fma.MultiplyAdd(v1, w1, b1);
                    var v2 = T.Load8(v, i + 16);
                    a2 = Fma.MultiplyAdd(v2, w0, a2); b2 = Fma.MultiplyAdd(v2, w1, b2);
                    var v3 = T.Load8(v, i + 24);
                    a3 = Fma.MultiplyAdd(v3, w0, a3); b3 = Fma.MultiplyAdd(v3, w1, b3);
                }
                // Head 1 first: with an odd last head o1 == o0 and b holds the same sums as a.
                (b0 * unit).Store(o1 + i); (b1 * unit).Store(o1 + i + 8); (b2 * unit).Store(o1 + i + 16); (b3 * unit).Store(o1 + i + 24);
                (a0 * unit).Store(o0 + i); (a1 * unit).Store(o0 + i + 8); (a2 * unit).Store(o0 + i + 16); (a3 * unit).Store(o0 + i + 24);
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
        else if (Vector128.IsHardwareAccelerated)
        {
            var pv = Vector128.Create(p);
            for (; i + 4 <= d; i += 4) (Vector128.Load(o + i) + Vector128.Load(v + i) * pv).Store(o + i);
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
