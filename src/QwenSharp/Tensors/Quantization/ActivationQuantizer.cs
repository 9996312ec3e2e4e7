using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace QwenSharp.Tensors.Quantization;

/// <summary>
/// Quantizes activation rows to int8 blocks once per matmul, the way llama.cpp does before its integer
/// dot products.
/// <para><b>Q8Blocks32</b> (for Q8_0, Q4_0, Q5_0 weights as ggml's Q8_0; Q4_1, Q5_1 as ggml's Q8_1), per
/// row of nb = cols/32 blocks: qs[nb·32] int8 | d[nb] f32 (rounded through fp16, as block_q8_0 stores it) |
/// sum[nb] int32 (Σ qs) | s[nb] f32 (fp16(d·Σqs), block_q8_1's s). d = max|x|/127, q = round-half-even(x·127/max|x|)
/// (ggml's AVX2 quantize_row_q8_0/q8_1).</para>
/// <para><b>Q8Blocks256</b> (for Q4_K, Q5_K, Q6_K, as ggml's Q8_K), per row of nb = cols/256 blocks:
/// qs[nb·256] int8 | d[nb] f32 | bsums[nb·16] int16 (sums of 16 consecutive qs) | pair sums[nb·8] int16 (sums of
/// 32, for the mins of Q4_K/Q5_K). With m the element of
/// largest magnitude, q = min(127, nearest(−127/m · x)), d = 1/(−127/m) (quantize_row_q8_K_ref).</para>
/// </summary>
public static unsafe class ActivationQuantizer
{
    public static int Q8Blocks32RowBytes(int cols) => Pad(cols / 32 * 44);
    public static int Q8Blocks256RowBytes(int cols) => Pad(cols / 256 * 308);
    static int Pad(int b) => (b + 63) / 64 * 64;

    /// <summary>Q8Blocks32 row views.</summary>
    public static sbyte* Q32Quants(byte* row) => (sbyte*)row;
    public static float* Q32Scales(byte* row, int nb) => (float*)(row + nb * 32);
    public static int* Q32Sums(byte* row, int nb) => (int*)(row + nb * 36);
    public static float* Q32Q81Sums(byte* row, int nb) => (float*)(row + nb * 40);

    /// <summary>Q8Blocks256 row views.</summary>
    public static sbyte* Q256Quants(byte* row) => (sbyte*)row;
    public static float* Q256Scales(byte* row, int nb) => (float*)(row + nb * 256);
    public static short* Q256BlockSums(byte* row, int nb) => (short*)(row + nb * 260);
    public static short* Q256PairSums(byte* row, int nb) => (short*)(row + nb * 292);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static float RoundThroughHalf(float f) => Numerics.HalfToFloat(Numerics.FloatToHalf(f));

    public static void QuantizeBlocks32(float* x, int cols, byte* dst)
    {
        if (Avx2.IsSupported) QuantizeBlocks32Avx2(x, cols, dst);
        else Reference.QuantizeBlocks32(x, cols, dst);
    }

    static void QuantizeBlocks32Avx2(float* x, int cols, byte* dst)
    {
        int nb = cols / 32;
        sbyte* qs = Q32Quants(dst);
        float* ds = Q32Scales(dst, nb), s81 = Q32Q81Sums(dst, nb);
        int* sums = Q32Sums(dst, nb);
        var absMask = Vector256.Create(0x7fffffff).AsSingle();
        for (int b = 0; b < nb; b++)
        {
            float* xb = x + b * 32;
            var v0 = Avx.LoadVector256(xb); var v1 = Avx.LoadVector256(xb + 8);
            var v2 = Avx.LoadVector256(xb + 16); var v3 = Avx.LoadVector256(xb + 24);
            var m = Avx.Max(Avx.Max(Avx.And(v0, absMask), Avx.And(v1, absMask)), Avx.Max(Avx.And(v2, absMask), Avx.And(v3, absMask)));
            var m4 = Sse.Max(m.GetLower(), m.GetUpper());
            m4 = Sse.Max(m4, Sse.MoveHighToLow(m4, m4));
            m4 = Sse.MaxScalar(m4, Sse.Shuffle(m4, m4, 1));
            float max = m4.ToScalar();
            float d = max / 127f;
            float id = max != 0 ? 127f / max : 0f;
            var mul = Vector256.Create(id);
            var i0 = Avx.ConvertToVector256Int32(Avx.RoundToNearestInteger(Avx.Multiply(v0, mul)));
            var i1 = Avx.ConvertToVector256Int32(Avx.RoundToNearestInteger(Avx.Multiply(v1, mul)));
            var i2 = Avx.ConvertToVector256Int32(Avx.RoundToNearestInteger(Avx.Multiply(v2, mul)));
            var i3 = Avx.ConvertToVector256Int32(Avx.RoundToNearestInteger(Avx.Multiply(v3, mul)));
            var sum = Avx2.Add(Avx2.Add(i0, i1), Avx2.Add(i2, i3));
            var s4 = Sse2.Add(sum.GetLower(), sum.GetUpper());
            s4 = Sse2.Add(s4, Sse2.Shuffle(s4, 0b01_00_11_10));
            s4 = Sse2.Add(s4, Sse2.Shuffle(s4, 0b10_11_00_01));
            int isum = s4.ToScalar();
            // pack int32 -> int16 -> int8 and undo the lane interleaving of the packs.
            var p01 = Avx2.PackSignedSaturate(i0, i1);
            var p23 = Avx2.PackSignedSaturate(i2, i3);
            var p = Avx2.PackSignedSaturate(p01, p23);
            p = Avx2.PermuteVar8x32(p.AsInt32(), Vector256.Create(0, 4, 1, 5, 2, 6, 3, 7)).AsSByte();
            Avx.Store(qs + b * 32, p);
            ds[b] = RoundThroughHalf(d);
            sums[b] = isum;
            s81[b] = RoundThroughHalf(d * isum);
        }
    }

    public static void QuantizeBlocks256(float* x, int cols, byte* dst)
    {
        if (Avx2.IsSupported) QuantizeBlocks256Avx2(x, cols, dst);
        else Reference.QuantizeBlocks256(x, cols, dst);
    }

    static void QuantizeBlocks256Avx2(float* x, int cols, byte* dst)
    {
        int nb = cols / 256;
        sbyte* qs = Q256Quants(dst);
        float* ds = Q256Scales(dst, nb);
        short* bs = Q256BlockSums(dst, nb), ps = Q256PairSums(dst, nb);
        var absMask = Vector256.Create(0x7fffffff).AsSingle();
        int* iv = stackalloc int[256];
        for (int b = 0; b < nb; b++)
        {
            float* xb = x + b * 256;
            var m = Vector256<float>.Zero;
            for (int j = 0; j < 256; j += 8) m = Avx.Max(m, Avx.And(Avx.LoadVector256(xb + j), absMask));
            var m4 = Sse.Max(m.GetLower(), m.GetUpper());
            m4 = Sse.Max(m4, Sse.MoveHighToLow(m4, m4));
            m4 = Sse.MaxScalar(m4, Sse.Shuffle(m4, m4, 1));
            float amax = m4.ToScalar();
            sbyte* q = qs + b * 256;
            if (amax == 0)
            {
                ds[b] = 0;
                new Span<byte>(q, 256).Clear();
                new Span<short>(bs + b * 16, 16).Clear();
                new Span<short>(ps + b * 8, 8).Clear();
                continue;
            }
            // The signed value of the first element of largest magnitude (as the scalar scan picks it).
            var am = Vector256.Create(amax);
            float max = 0;
            for (int j = 0; j < 256; j += 8)
            {
                int mask = Avx.MoveMask(Avx.CompareEqual(Avx.And(Avx.LoadVector256(xb + j), absMask), am));
                if (mask != 0) { max = xb[j + System.Numerics.BitOperations.TrailingZeroCount(mask)]; break; }
            }
            float iscale = -127f / max;
            var vs = Vector256.Create(iscale);
            var magic = Vector256.Create(12582912f);
            var mant = Vector256.Create(0x007fffff);
            var bias = Vector256.Create(0x00400000);
            var top = Vector256.Create(127);
            for (int j = 0; j < 256; j += 32)
            {
                Vector256<int> Q(int o) => Avx2.Min(Avx2.Subtract(Avx2.And(Avx.Add(Avx.Multiply(vs, Avx.LoadVector256(xb + j + o)), magic).AsInt32(), mant), bias), top);
                var i0 = Q(0); var i1 = Q(8); var i2 = Q(16); var i3 = Q(24);
                i0.Store(iv + j); i1.Store(iv + j + 8); i2.Store(iv + j + 16); i3.Store(iv + j + 24);
                var p = Avx2.PackSignedSaturate(Avx2.PackSignedSaturate(i0, i1), Avx2.PackSignedSaturate(i2, i3));
                p = Avx2.PermuteVar8x32(p.AsInt32(), Vector256.Create(0, 4, 1, 5, 2, 6, 3, 7)).AsSByte();
                Avx.Store(q + j, p);
            }
            for (int g = 0; g < 16; g++)
            {
                var s = Avx2.Add(Avx.LoadVector256(iv + 16 * g), Avx.LoadVector256(iv + 16 * g + 8));
                var s4 = Sse2.Add(s.GetLower(), s.GetUpper());
                s4 = Sse2.Add(s4, Sse2.Shuffle(s4, 0b01_00_11_10));
                s4 = Sse2.Add(s4, Sse2.Shuffle(s4, 0b10_11_00_01));
                bs[b * 16 + g] = (short)s4.ToScalar();
            }
            for (int g = 0; g < 8; g++) ps[b * 8 + g] = (short)(bs[b * 16 + 2 * g] + bs[b * 16 + 2 * g + 1]);
            ds[b] = 1 / iscale;
        }
    }

    /// <summary>ggml's nearest_int: round half to even through the 1.5·2^23 trick.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int NearestInt(float f)
    {
        float v = f + 12582912f;
        return (BitConverter.SingleToInt32Bits(v) & 0x007fffff) - 0x00400000;
    }

    /// <summary>Scalar twins of the SIMD paths.</summary>
    public static class Reference
    {
        public static void QuantizeBlocks32(float* x, int cols, byte* dst)
        {
            int nb = cols / 32;
            sbyte* qs = Q32Quants(dst);
            float* ds = Q32Scales(dst, nb), s81 = Q32Q81Sums(dst, nb);
            int* sums = Q32Sums(dst, nb);
            for (int b = 0; b < nb; b++)
            {
                float* xb = x + b * 32;
                float max = 0;
                for (int j = 0; j < 32; j++) max = MathF.Max(max, MathF.Abs(xb[j]));
                float d = max / 127f;
                float id = max != 0 ? 127f / max : 0f;
                int sum = 0;
                for (int j = 0; j < 32; j++)
                {
                    int q = (int)MathF.Round(xb[j] * id, MidpointRounding.ToEven);
                    qs[b * 32 + j] = (sbyte)q;
                    sum += q;
                }
                ds[b] = RoundThroughHalf(d);
                sums[b] = sum;
                s81[b] = RoundThroughHalf(d * sum);
            }
        }

        public static void QuantizeBlocks256(float* x, int cols, byte* dst)
        {
            int nb = cols / 256;
            sbyte* qs = Q256Quants(dst);
            float* ds = Q256Scales(dst, nb);
            short* bs = Q256BlockSums(dst, nb), ps = Q256PairSums(dst, nb);
            for (int b = 0; b < nb; b++)
            {
                float* xb = x + b * 256;
                float max = 0, amax = 0;
                for (int j = 0; j < 256; j++)
                {
                    float ax = MathF.Abs(xb[j]);
                    if (ax > amax) { amax = ax; max = xb[j]; }
                }
                sbyte* q = qs + b * 256;
                if (amax == 0)
                {
                    ds[b] = 0;
                    for (int j = 0; j < 256; j++) q[j] = 0;
                    for (int j = 0; j < 16; j++) bs[b * 16 + j] = 0;
                    for (int j = 0; j < 8; j++) ps[b * 8 + j] = 0;
                    continue;
                }
                float iscale = -127f / max;
                for (int j = 0; j < 256; j++) q[j] = (sbyte)Math.Min(127, NearestInt(iscale * xb[j]));
                for (int j = 0; j < 16; j++)
                {
                    int s = 0;
                    for (int i = 0; i < 16; i++) s += q[j * 16 + i];
                    bs[b * 16 + j] = (short)s;
                }
                for (int j = 0; j < 8; j++) ps[b * 8 + j] = (short)(bs[b * 16 + 2 * j] + bs[b * 16 + 2 * j + 1]);
                ds[b] = 1 / iscale;
            }
        }
    }
}
