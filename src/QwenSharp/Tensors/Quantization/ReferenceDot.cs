namespace QwenSharp.Tensors.Quantization;

/// <summary>
/// Scalar dot products of one GGUF block-quantized weight row with one quantized activation row, in the
/// integer-then-float order of ggml's generic vec_dot kernels (Q8_0/Q4_0/Q5_0 × Q8_0, Q4_1/Q5_1 × Q8_1,
/// K-types × Q8_K). The reference twin every SIMD kernel is tested against.
/// </summary>
public static unsafe class ReferenceDot
{
    /// <summary>The activation format a weight type is multiplied with.</summary>
    public static InputFormat InputFor(GgmlType t) => t switch
    {
        GgmlType.Q4_K or GgmlType.Q5_K or GgmlType.Q6_K => InputFormat.Q8Blocks256,
        _ => InputFormat.Q8Blocks32,
    };

    static float H(byte* p) => Numerics.HalfToFloat(*(ushort*)p);

    public static float Dot(GgmlType type, byte* w, byte* x, int cols)
    {
        switch (type)
        {
            case GgmlType.Q8_0:
            case GgmlType.Q4_0:
            case GgmlType.Q4_1:
            case GgmlType.Q5_0:
            case GgmlType.Q5_1:
                {
                    int nb = cols / 32;
                    sbyte* xq = ActivationQuantizer.Q32Quants(x);
                    float* xd = ActivationQuantizer.Q32Scales(x, nb), xs = ActivationQuantizer.Q32Q81Sums(x, nb);
                    int bytes = GgmlTypeInfo.Layout(type).TypeSize;
                    float sum = 0;
                    Span<int> q = stackalloc int[32];
                    for (int b = 0; b < nb; b++, w += bytes)
                    {
                        float d = H(w), m = 0;
                        switch (type)
                        {
                            case GgmlType.Q8_0: for (int j = 0; j < 32; j++) q[j] = ((sbyte*)(w + 2))[j]; break;
                            case GgmlType.Q4_0: for (int j = 0; j < 16; j++) { q[j] = (w[2 + j] & 15) - 8; q[j + 16] = (w[2 + j] >> 4) - 8; } break;
                            case GgmlType.Q4_1: m = H(w + 2); for (int j = 0; j < 16; j++) { q[j] = w[4 + j] & 15; q[j + 16] = w[4 + j] >> 4; } break;
                            case GgmlType.Q5_0:
                                {
                                    uint qh = *(uint*)(w + 2);
                                    for (int j = 0; j < 16; j++)
                                    {
                                        q[j] = ((w[6 + j] & 15) | (int)(((qh >> j) & 1) << 4)) - 16;
                                        q[j + 16] = ((w[6 + j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4)) - 16;
                                    }
                                    break;
                                }
                            default:
                                {
                                    m = H(w + 2);
                                    uint qh = *(uint*)(w + 4);
                                    for (int j = 0; j < 16; j++)
                                    {
                                        q[j] = (w[8 + j] & 15) | (int)(((qh >> j) & 1) << 4);
                                        q[j + 16] = (w[8 + j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
                                    }
                                    break;
                                }
                        }
                        int sumi = 0;
                        for (int j = 0; j < 32; j++) sumi += q[j] * xq[b * 32 + j];
                        sum += sumi * (d * xd[b]);
                        if (type is GgmlType.Q4_1 or GgmlType.Q5_1) sum += m * xs[b];
                    }
                    return sum;
                }
            case GgmlType.Q4_K:
            case GgmlType.Q5_K:
                {
                    int nb = cols / 256;
                    sbyte* xq = ActivationQuantizer.Q256Quants(x);
                    float* xd = ActivationQuantizer.Q256Scales(x, nb);
                    short* bs = ActivationQuantizer.Q256BlockSums(x, nb);
                    bool five = type == GgmlType.Q5_K;
                    int bytes = five ? 176 : 144;
                    float sum = 0;
                    for (int b = 0; b < nb; b++, w += bytes)
                    {
                        byte* scales = w + 4;
                        byte* ql = w + (five ? 48 : 16);
                        byte* qh = w + 16;
                        int sumi = 0, summ = 0;
                        for (int j = 0; j < 8; j++)
                        {
                            BlockDequantizer.ScaleMinK4(j, scales, out int sc, out int mn);
                            int s = 0;
                            for (int l = 0; l < 32; l++)
                            {
                                int byteIdx = (j / 2) * 32 + l;
                                int v = (j & 1) == 0 ? ql[byteIdx] & 15 : ql[byteIdx] >> 4;
                                if (five && (qh[l] & (1 << j)) != 0) v += 16;
                                s += v * xq[b * 256 + j * 32 + l];
                            }
                            sumi += sc * s;
                            summ += mn * (bs[b * 16 + 2 * j] + bs[b * 16 + 2 * j + 1]);
                        }
                        float dx = xd[b];
                        sum += H(w) * dx * sumi - H(w + 2) * dx * summ;
                    }
                    return sum;
                }
            case GgmlType.Q6_K:
                {
                    int nb = cols / 256;
                    sbyte* xq = ActivationQuantizer.Q256Quants(x);
                    float* xd = ActivationQuantizer.Q256Scales(x, nb);
                    float sum = 0;
                    Span<int> q = stackalloc int[256];
                    for (int b = 0; b < nb; b++, w += 210)
                    {
                        byte* ql = w, qh = w + 128;
                        sbyte* sc = (sbyte*)(w + 192);
                        for (int n = 0; n < 2; n++)
                            for (int l = 0; l < 32; l++)
                            {
                                byte* L = ql + n * 64; byte* Hh = qh + n * 32;
                                q[n * 128 + l] = ((L[l] & 15) | ((Hh[l] & 3) << 4)) - 32;
                                q[n * 128 + l + 32] = ((L[l + 32] & 15) | (((Hh[l] >> 2) & 3) << 4)) - 32;
                                q[n * 128 + l + 64] = ((L[l] >> 4) | (((Hh[l] >> 4) & 3) << 4)) - 32;
                                q[n * 128 + l + 96] = ((L[l + 32] >> 4) | (((Hh[l] >> 6) & 3) << 4)) - 32;
                            }
                        int sumi = 0;
                        for (int g = 0; g < 16; g++)
                        {
                            int s = 0;
                            for (int l = 0; l < 16; l++) s += q[g * 16 + l] * xq[b * 256 + g * 16 + l];
                            sumi += sc[g] * s;
                        }
                        sum += H(w + 208) * xd[b] * sumi;
                    }
                    return sum;
                }
            default:
                throw new NotSupportedException($"no quantized dot for {GgmlTypeInfo.Name(type)}");
        }
    }
}
