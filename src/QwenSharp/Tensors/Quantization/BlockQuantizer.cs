namespace QwenSharp.Tensors.Quantization;

/// <summary>
/// f32 rows to GGUF blocks, reproducing llama.cpp's reference quantizers (what llama-quantize uses
/// without an importance matrix): Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 (max-based scales, identical bytes) and
/// Q4_K, Q5_K (weighted least-squares scale/min search per 32, 6-bit super-block scales), Q6_K
/// (RMSE scale search per 16, 8-bit scales).
/// </summary>
public static unsafe class BlockQuantizer
{
    public static bool IsSupported(GgmlType t) => BlockDequantizer.IsSupported(t);

    /// <summary>Quantizes one row of k elements (a whole number of blocks) into <paramref name="dst"/>.</summary>
    public static void Row(GgmlType type, float* x, byte* dst, int k)
    {
        var (bs, ts) = GgmlTypeInfo.Layout(type);
        if (bs == 0 || k % bs != 0) throw new ArgumentException($"{GgmlTypeInfo.Name(type)} needs rows that are a multiple of {bs} elements, got {k}");
        int nb = k / bs;
        for (int b = 0; b < nb; b++, x += bs, dst += ts)
        {
            switch (type)
            {
                case GgmlType.Q8_0: Q8_0(x, dst); break;
                case GgmlType.Q4_0: Q4_0(x, dst); break;
                case GgmlType.Q4_1: Q4_1(x, dst); break;
                case GgmlType.Q5_0: Q5_0(x, dst); break;
                case GgmlType.Q5_1: Q5_1(x, dst); break;
                case GgmlType.Q4_K: QK45(x, dst, five: false); break;
                case GgmlType.Q5_K: QK45(x, dst, five: true); break;
                case GgmlType.Q6_K: Q6_K(x, dst); break;
                default: throw new NotSupportedException($"cannot quantize to {GgmlTypeInfo.Name(type)}");
            }
        }
    }

    static ushort F16(float f) => Numerics.FloatToHalf(f);
    static float F32(ushort h) => Numerics.HalfToFloat(h);
    static int Nearest(float f) => ActivationQuantizer.NearestInt(f);

    static void Q8_0(float* x, byte* y)
    {
        float amax = 0;
        for (int j = 0; j < 32; j++) amax = MathF.Max(amax, MathF.Abs(x[j]));
        float d = amax / 127;
        float id = d != 0 ? 1.0f / d : 0;
        *(ushort*)y = F16(d);
        for (int j = 0; j < 32; j++) ((sbyte*)(y + 2))[j] = (sbyte)MathF.Round(x[j] * id, MidpointRounding.AwayFromZero);
    }

    /// <summary>Signed max-magnitude element of a block (first one wins on ties).</summary>
    static float SignedMax(float* x, int n)
    {
        float amax = 0, max = 0;
        for (int j = 0; j < n; j++)
            if (amax < MathF.Abs(x[j])) { amax = MathF.Abs(x[j]); max = x[j]; }
        return max;
    }

    static void Q4_0(float* x, byte* y)
    {
        float d = SignedMax(x, 32) / -8;
        float id = d != 0 ? 1.0f / d : 0;
        *(ushort*)y = F16(d);
        for (int j = 0; j < 16; j++)
        {
            int x0 = Math.Min(15, (int)(sbyte)(int)(x[j] * id + 8.5f));
            int x1 = Math.Min(15, (int)(sbyte)(int)(x[j + 16] * id + 8.5f));
            y[2 + j] = (byte)(x0 | (x1 << 4));
        }
    }

    static void MinMax(float* x, out float min, out float max)
    {
        min = float.MaxValue; max = -float.MaxValue;
        for (int j = 0; j < 32; j++) { if (x[j] < min) min = x[j]; if (x[j] > max) max = x[j]; }
    }

    static void Q4_1(float* x, byte* y)
    {
        MinMax(x, out float min, out float max);
        float d = (max - min) / 15;
        float id = d != 0 ? 1.0f / d : 0;
        ((ushort*)y)[0] = F16(d);
        ((ushort*)y)[1] = F16(min);
        for (int j = 0; j < 16; j++)
        {
            int x0 = Math.Min(15, (int)(sbyte)(int)((x[j] - min) * id + 0.5f));
            int x1 = Math.Min(15, (int)(sbyte)(int)((x[j + 16] - min) * id + 0.5f));
            y[4 + j] = (byte)(x0 | (x1 << 4));
        }
    }

    static void Q5_0(float* x, byte* y)
    {
        float d = SignedMax(x, 32) / -16;
        float id = d != 0 ? 1.0f / d : 0;
        *(ushort*)y = F16(d);
        uint qh = 0;
        for (int j = 0; j < 16; j++)
        {
            int x0 = Math.Min(31, (int)(sbyte)(int)(x[j] * id + 16.5f));
            int x1 = Math.Min(31, (int)(sbyte)(int)(x[j + 16] * id + 16.5f));
            y[6 + j] = (byte)((x0 & 15) | ((x1 & 15) << 4));
            qh |= (uint)((x0 & 0x10) >> 4) << j;
            qh |= (uint)((x1 & 0x10) >> 4) << (j + 16);
        }
        *(uint*)(y + 2) = qh;
    }

    static void Q5_1(float* x, byte* y)
    {
        MinMax(x, out float min, out float max);
        float d = (max - min) / 31;
        float id = d != 0 ? 1.0f / d : 0;
        ((ushort*)y)[0] = F16(d);
        ((ushort*)y)[1] = F16(min);
        uint qh = 0;
        for (int j = 0; j < 16; j++)
        {
            int x0 = (byte)(int)((x[j] - min) * id + 0.5f);
            int x1 = (byte)(int)((x[j + 16] - min) * id + 0.5f);
            y[8 + j] = (byte)((x0 & 15) | ((x1 & 15) << 4));
            qh |= (uint)((x0 & 0x10) >> 4) << j;
            qh |= (uint)((x1 & 0x10) >> 4) << (j + 16);
        }
        *(uint*)(y + 4) = qh;
    }

    /// <summary>
    /// Weighted least-squares fit of x ≈ scale·L − min with L in [0, nmax], trying nstep+1 candidate
    /// inverse scales around nmax/(max−min) (llama.cpp's make_qkx2_quants). Returns scale; min ≥ 0.
    /// </summary>
    static float FitScaleMin(int n, int nmax, float* x, float* weights, byte* L, out float theMin, byte* Laux, float rmin, float rdelta, int nstep)
    {
        float min = x[0], max = x[0];
        float sumW = weights[0], sumX = sumW * x[0];
        for (int i = 1; i < n; i++)
        {
            if (x[i] < min) min = x[i];
            if (x[i] > max) max = x[i];
            float w = weights[i];
            sumW += w;
            sumX += w * x[i];
        }
        if (min > 0) min = 0;
        if (max == min)
        {
            for (int i = 0; i < n; i++) L[i] = 0;
            theMin = -min;
            return 0;
        }
        float iscale = nmax / (max - min);
        float scale = 1 / iscale;
        float bestError = 0;
        for (int i = 0; i < n; i++)
        {
            int l = Nearest(iscale * (x[i] - min));
            L[i] = (byte)Math.Max(0, Math.Min(nmax, l));
            float diff = scale * L[i] + min - x[i];
            bestError += weights[i] * diff * diff;
        }
        for (int step = 0; step <= nstep; step++)
        {
            iscale = (rmin + rdelta * step + nmax) / (max - min);
            float sumL = 0, sumL2 = 0, sumXL = 0;
            for (int i = 0; i < n; i++)
            {
                int l = Math.Max(0, Math.Min(nmax, Nearest(iscale * (x[i] - min))));
                Laux[i] = (byte)l;
                float w = weights[i];
                sumL += w * l;
                sumL2 += w * l * l;
                sumXL += w * l * x[i];
            }
            float D = sumW * sumL2 - sumL * sumL;
            if (D > 0)
            {
                float thisScale = (sumW * sumXL - sumX * sumL) / D;
                float thisMin = (sumL2 * sumX - sumL * sumXL) / D;
                if (thisMin > 0)
                {
                    thisMin = 0;
                    thisScale = sumXL / sumL2;
                }
                float err = 0;
                for (int i = 0; i < n; i++)
                {
                    float diff = thisScale * Laux[i] + thisMin - x[i];
                    err += weights[i] * diff * diff;
                }
                if (err < bestError)
                {
                    for (int i = 0; i < n; i++) L[i] = Laux[i];
                    bestError = err;
                    scale = thisScale;
                    min = thisMin;
                }
            }
        }
        theMin = -min;
        return scale;
    }

    static void QK45(float* x, byte* y, bool five)
    {
        int nmax = five ? 31 : 15;
        byte* L = stackalloc byte[256];
        byte* Laux = stackalloc byte[32];
        float* weights = stackalloc float[32];
        float* mins = stackalloc float[8];
        float* scales = stackalloc float[8];
        float maxScale = 0, maxMin = 0;
        for (int j = 0; j < 8; j++)
        {
            float sumX2 = 0;
            for (int l = 0; l < 32; l++) sumX2 += x[32 * j + l] * x[32 * j + l];
            float avX = MathF.Sqrt(sumX2 / 32);
            for (int l = 0; l < 32; l++) weights[l] = avX + MathF.Abs(x[32 * j + l]);
            scales[j] = five
                ? FitScaleMin(32, nmax, x + 32 * j, weights, L + 32 * j, out mins[j], Laux, -0.5f, 0.1f, 15)
                : FitScaleMin(32, nmax, x + 32 * j, weights, L + 32 * j, out mins[j], Laux, -1f, 0.1f, 20);
            if (scales[j] > maxScale) maxScale = scales[j];
            if (mins[j] > maxMin) maxMin = mins[j];
        }
        byte* sc = y + 4;
        for (int j = 0; j < 12; j++) sc[j] = 0;
        float invScale = maxScale > 0 ? 63f / maxScale : 0;
        float invMin = maxMin > 0 ? 63f / maxMin : 0;
        for (int j = 0; j < 8; j++)
        {
            int ls = Math.Min(63, (int)(byte)Nearest(invScale * scales[j]));
            int lm = Math.Min(63, (int)(byte)Nearest(invMin * mins[j]));
            if (j < 4) { sc[j] = (byte)ls; sc[j + 4] = (byte)lm; }
            else
            {
                sc[j + 4] = (byte)((ls & 0xF) | ((lm & 0xF) << 4));
                sc[j - 4] |= (byte)((ls >> 4) << 6);
                sc[j] |= (byte)((lm >> 4) << 6);
            }
        }
        ((ushort*)y)[0] = F16(maxScale / 63f);
        ((ushort*)y)[1] = F16(maxMin / 63f);
        float dAll = F32(((ushort*)y)[0]), mAll = F32(((ushort*)y)[1]);
        for (int j = 0; j < 8; j++)
        {
            BlockDequantizer.ScaleMinK4(j, sc, out int s, out int m);
            float d = dAll * s;
            if (d == 0) continue;
            float dm = mAll * m;
            for (int ii = 0; ii < 32; ii++)
                L[32 * j + ii] = (byte)Math.Max(0, Math.Min(nmax, Nearest((x[32 * j + ii] + dm) / d)));
        }
        if (!five)
        {
            byte* q = y + 16;
            for (int j = 0; j < 256; j += 64, q += 32)
                for (int l = 0; l < 32; l++) q[l] = (byte)(L[j + l] | (L[j + l + 32] << 4));
        }
        else
        {
            byte* qh = y + 16, ql = y + 48;
            for (int j = 0; j < 32; j++) qh[j] = 0;
            int m1 = 1, m2 = 2;
            for (int n = 0; n < 256; n += 64, ql += 32, m1 <<= 2, m2 <<= 2)
                for (int j = 0; j < 32; j++)
                {
                    int l1 = L[n + j];
                    if (l1 > 15) { l1 -= 16; qh[j] |= (byte)m1; }
                    int l2 = L[n + j + 32];
                    if (l2 > 15) { l2 -= 16; qh[j] |= (byte)m2; }
                    ql[j] = (byte)(l1 | (l2 << 4));
                }
        }
    }

    /// <summary>
    /// RMSE-weighted (w = x²) symmetric scale for n values in [−nmax, nmax−1], trying 19 inverse scales
    /// around −nmax/max (llama.cpp's make_qx_quants with rmse_type 1). L receives values offset by nmax.
    /// </summary>
    static float FitScaleSymmetric(int n, int nmax, float* x, sbyte* L)
    {
        float max = 0, amax = 0;
        for (int i = 0; i < n; i++)
        {
            float ax = MathF.Abs(x[i]);
            if (ax > amax) { amax = ax; max = x[i]; }
        }
        if (amax < 1e-15f)
        {
            for (int i = 0; i < n; i++) L[i] = 0;
            return 0;
        }
        float iscale = -nmax / max;
        float sumLX = 0, sumL2 = 0;
        for (int i = 0; i < n; i++)
        {
            int l = Math.Max(-nmax, Math.Min(nmax - 1, Nearest(iscale * x[i])));
            L[i] = (sbyte)(l + nmax);
            float w = x[i] * x[i];
            sumLX += w * x[i] * l;
            sumL2 += w * l * l;
        }
        float scale = sumL2 != 0 ? sumLX / sumL2 : 0;
        float best = scale * sumLX;
        for (int step = -9; step <= 9; step++)
        {
            if (step == 0) continue;
            iscale = -(nmax + 0.1f * step) / max;
            sumLX = sumL2 = 0;
            for (int i = 0; i < n; i++)
            {
                int l = Math.Max(-nmax, Math.Min(nmax - 1, Nearest(iscale * x[i])));
                float w = x[i] * x[i];
                sumLX += w * x[i] * l;
                sumL2 += w * l * l;
            }
            if (sumL2 > 0 && sumLX * sumLX > best * sumL2)
            {
                for (int i = 0; i < n; i++) L[i] = (sbyte)(nmax + Math.Max(-nmax, Math.Min(nmax - 1, Nearest(iscale * x[i]))));
                scale = sumLX / sumL2;
                best = scale * sumLX;
            }
        }
        return scale;
    }

    static void Q6_K(float* x, byte* y)
    {
        sbyte* L = stackalloc sbyte[256];
        float* scales = stackalloc float[16];
        float maxScale = 0, maxAbsScale = 0;
        for (int ib = 0; ib < 16; ib++)
        {
            float scale = FitScaleSymmetric(16, 32, x + 16 * ib, L + 16 * ib);
            scales[ib] = scale;
            float abs = MathF.Abs(scale);
            if (abs > maxAbsScale) { maxAbsScale = abs; maxScale = scale; }
        }
        if (maxAbsScale < 1e-15f)
        {
            for (int i = 0; i < 210; i++) y[i] = 0;
            return;
        }
        float iscale = -128f / maxScale;
        *(ushort*)(y + 208) = F16(1 / iscale);
        sbyte* sc = (sbyte*)(y + 192);
        for (int ib = 0; ib < 16; ib++) sc[ib] = (sbyte)Math.Min(127, Nearest(iscale * scales[ib]));
        float dAll = F32(*(ushort*)(y + 208));
        for (int j = 0; j < 16; j++)
        {
            float d = dAll * sc[j];
            if (d == 0) continue;
            for (int ii = 0; ii < 16; ii++)
                L[16 * j + ii] = (sbyte)(Math.Max(-32, Math.Min(31, Nearest(x[16 * j + ii] / d))) + 32);
        }
        byte* ql = y, qh = y + 128;
        for (int j = 0; j < 256; j += 128, ql += 64, qh += 32)
            for (int l = 0; l < 32; l++)
            {
                int q1 = L[j + l] & 0xF, q2 = L[j + l + 32] & 0xF, q3 = L[j + l + 64] & 0xF, q4 = L[j + l + 96] & 0xF;
                ql[l] = (byte)(q1 | (q3 << 4));
                ql[l + 32] = (byte)(q2 | (q4 << 4));
                qh[l] = (byte)((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) | ((L[j + l + 64] >> 4) << 4) | ((L[j + l + 96] >> 4) << 6));
            }
    }
}
