namespace QwenSharp.Tensors.Quantization;

/// <summary>
/// Scalar dequantization of GGUF block-quantized rows (ggml's block layouts): Q8_0, Q4_0, Q4_1, Q5_0,
/// Q5_1, Q4_K, Q5_K, Q6_K. The plain reference the kernels and the quantizers are tested against, and
/// what token-embedding lookups use.
/// </summary>
public static unsafe class BlockDequantizer
{
    public static bool IsSupported(GgmlType t) => t is GgmlType.Q8_0 or GgmlType.Q4_0 or GgmlType.Q4_1 or GgmlType.Q5_0
        or GgmlType.Q5_1 or GgmlType.Q4_K or GgmlType.Q5_K or GgmlType.Q6_K;

    static float H(byte* p) => Numerics.HalfToFloat(*(ushort*)p);

    /// <summary>Dequantizes <paramref name="k"/> elements (a whole number of blocks) starting at <paramref name="src"/>.</summary>
    public static void Row(GgmlType type, byte* src, float* y, int k)
    {
        switch (type)
        {
            case GgmlType.Q8_0:
                for (int b = 0; b < k / 32; b++, src += 34)
                {
                    float d = H(src);
                    sbyte* q = (sbyte*)(src + 2);
                    for (int j = 0; j < 32; j++) *y++ = q[j] * d;
                }
                break;
            case GgmlType.Q4_0:
                for (int b = 0; b < k / 32; b++, src += 18, y += 32)
                {
                    float d = H(src);
                    byte* q = src + 2;
                    for (int j = 0; j < 16; j++) { y[j] = ((q[j] & 15) - 8) * d; y[j + 16] = ((q[j] >> 4) - 8) * d; }
                }
                break;
            case GgmlType.Q4_1:
                for (int b = 0; b < k / 32; b++, src += 20, y += 32)
                {
                    float d = H(src), m = H(src + 2);
                    byte* q = src + 4;
                    for (int j = 0; j < 16; j++) { y[j] = (q[j] & 15) * d + m; y[j + 16] = (q[j] >> 4) * d + m; }
                }
                break;
            case GgmlType.Q5_0:
                for (int b = 0; b < k / 32; b++, src += 22, y += 32)
                {
                    float d = H(src);
                    uint qh = *(uint*)(src + 2);
                    byte* q = src + 6;
                    for (int j = 0; j < 16; j++)
                    {
                        int x0 = (q[j] & 15) | (int)(((qh >> j) & 1) << 4);
                        int x1 = (q[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
                        y[j] = (x0 - 16) * d; y[j + 16] = (x1 - 16) * d;
                    }
                }
                break;
            case GgmlType.Q5_1:
                for (int b = 0; b < k / 32; b++, src += 24, y += 32)
                {
                    float d = H(src), m = H(src + 2);
                    uint qh = *(uint*)(src + 4);
                    byte* q = src + 8;
                    for (int j = 0; j < 16; j++)
                    {
                        int x0 = (q[j] & 15) | (int)(((qh >> j) & 1) << 4);
                        int x1 = (q[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
                        y[j] = x0 * d + m; y[j + 16] = x1 * d + m;
                    }
                }
                break;
            case GgmlType.Q4_K:
                for (int b = 0; b < k / 256; b++, src += 144)
                {
                    float d = H(src), dmin = H(src + 2);
                    byte* scales = src + 4, q = src + 16;
                    for (int j = 0; j < 256; j += 64, q += 32)
                    {
                        ScaleMinK4(j / 32, scales, out int sc1, out int m1);
                        ScaleMinK4(j / 32 + 1, scales, out int sc2, out int m2);
                        float d1 = d * sc1, mm1 = dmin * m1, d2 = d * sc2, mm2 = dmin * m2;
                        for (int l = 0; l < 32; l++) *y++ = d1 * (q[l] & 15) - mm1;
                        for (int l = 0; l < 32; l++) *y++ = d2 * (q[l] >> 4) - mm2;
                    }
                }
                break;
            case GgmlType.Q5_K:
                for (int b = 0; b < k / 256; b++, src += 176)
                {
                    float d = H(src), dmin = H(src + 2);
                    byte* scales = src + 4, qh = src + 16, ql = src + 48;
                    int u1 = 1, u2 = 2;
                    for (int j = 0; j < 256; j += 64, ql += 32, u1 <<= 2, u2 <<= 2)
                    {
                        ScaleMinK4(j / 32, scales, out int sc1, out int m1);
                        ScaleMinK4(j / 32 + 1, scales, out int sc2, out int m2);
                        float d1 = d * sc1, mm1 = dmin * m1, d2 = d * sc2, mm2 = dmin * m2;
                        for (int l = 0; l < 32; l++) *y++ = d1 * ((ql[l] & 15) + ((qh[l] & u1) != 0 ? 16 : 0)) - mm1;
                        for (int l = 0; l < 32; l++) *y++ = d2 * ((ql[l] >> 4) + ((qh[l] & u2) != 0 ? 16 : 0)) - mm2;
                    }
                }
                break;
            case GgmlType.Q6_K:
                for (int b = 0; b < k / 256; b++, src += 210)
                {
                    byte* ql = src, qh = src + 128;
                    sbyte* sc = (sbyte*)(src + 192);
                    float d = H(src + 208);
                    for (int n = 0; n < 256; n += 128, y += 128, ql += 64, qh += 32, sc += 8)
                        for (int l = 0; l < 32; l++)
                        {
                            int is_ = l / 16;
                            int q1 = ((ql[l] & 15) | ((qh[l] & 3) << 4)) - 32;
                            int q2 = ((ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4)) - 32;
                            int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                            int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                            y[l] = d * sc[is_] * q1;
                            y[l + 32] = d * sc[is_ + 2] * q2;
                            y[l + 64] = d * sc[is_ + 4] * q3;
                            y[l + 96] = d * sc[is_ + 6] * q4;
                        }
                }
                break;
            default:
                throw new NotSupportedException($"cannot dequantize {GgmlTypeInfo.Name(type)}");
        }
    }

    /// <summary>The 6-bit scale and min of sub-block j (0..7) of a Q4_K/Q5_K super-block (ggml's get_scale_min_k4).</summary>
    public static void ScaleMinK4(int j, byte* q, out int d, out int m)
    {
        if (j < 4) { d = q[j] & 63; m = q[j + 4] & 63; }
        else
        {
            d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
            m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
        }
    }
}
