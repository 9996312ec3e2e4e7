using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using QwenSharp.Tensors.Quantization;

namespace QwenSharp.Tensors;

/// <summary>
/// The portable (<see cref="KernelPath.Vector128"/>) kernels for the 8-row-interleaved layouts of <see cref="Block32Matrix"/>
/// and <see cref="InterleavedKQuantMatrix"/>, written with the cross-platform <see cref="Vector128"/> API only, so they run on
/// ARM64 (NEON) as on x86-64 (SSE).
/// <para>A 32-byte step vector of the layout (4 columns of 8 rows, byte 4·r + t) is read as two 16-byte halves, rows 0–3 and
/// 4–7. Each half is widened to int16 (two rows per vector) and multiplied by the step's 4 activation values, widened and
/// repeated ([x0 x1 x2 x3 x0 x1 x2 x3]): every int16 lane (row r, column t) gains one product per step. A sub-block's
/// lanes (at most 8 steps of 5-bit, 4 of 6-bit weights: below 2^15 in magnitude) are then widened to int32, multiplied by
/// the row's sub-block scale and added to one int32 vector per row; a row's total is the sum of its 4 lanes. Mins and
/// offsets (64–128 multiply-adds per super-block) are plain integer loops.</para>
/// <para>The integer totals are exact, so they equal the AVX2 kernels'; the float part (fp16 scales by the same bit
/// trick, the same multiplies and fused multiply-adds per row, in the same order) is the AVX2 kernels' too. The
/// results are therefore bit-identical to <see cref="KernelPath.Avx2"/>, which the tests check. One input at a time:
/// in a batch the chunk is read again from L1 for each input.</para>
/// </summary>
internal static unsafe class Interleaved8Vector128
{
    /// <summary>int16 lane accumulators of one step: rows 0–1, 2–3, 4–5, 6–7, 4 column lanes each.</summary>
    struct Lanes16
    {
        public Vector128<short> A01, A23, A45, A67;
    }

    /// <summary>int32 accumulators, one vector (4 column lanes) per row.</summary>
    struct Rows32
    {
        public Vector128<int> R0, R1, R2, R3, R4, R5, R6, R7;
    }

    /// <summary>4 activation bytes at x, widened: [x0 x1 x2 x3 x0 x1 x2 x3].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector128<short> X16(sbyte* x) => Vector128.WidenLower(Vector128.Create(*(int*)x).AsSByte());

    /// <summary>One step of unsigned weights (the two halves lo = rows 0–3, hi = rows 4–7) times 4 activations.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Step(ref Lanes16 a, Vector128<byte> lo, Vector128<byte> hi, sbyte* x)
    {
        var x16 = X16(x);
        a.A01 += Vector128.WidenLower(lo).AsInt16() * x16;
        a.A23 += Vector128.WidenUpper(lo).AsInt16() * x16;
        a.A45 += Vector128.WidenLower(hi).AsInt16() * x16;
        a.A67 += Vector128.WidenUpper(hi).AsInt16() * x16;
    }

    /// <summary>One step of signed weights (Q8_0).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void StepSigned(ref Lanes16 a, Vector128<sbyte> lo, Vector128<sbyte> hi, sbyte* x)
    {
        var x16 = X16(x);
        a.A01 += Vector128.WidenLower(lo) * x16;
        a.A23 += Vector128.WidenUpper(lo) * x16;
        a.A45 += Vector128.WidenLower(hi) * x16;
        a.A67 += Vector128.WidenUpper(hi) * x16;
    }

    /// <summary>t_r += lanes of row r (scale 1), then clears the int16 lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Flush(ref Lanes16 a, ref Rows32 t)
    {
        t.R0 += Vector128.WidenLower(a.A01); t.R1 += Vector128.WidenUpper(a.A01);
        t.R2 += Vector128.WidenLower(a.A23); t.R3 += Vector128.WidenUpper(a.A23);
        t.R4 += Vector128.WidenLower(a.A45); t.R5 += Vector128.WidenUpper(a.A45);
        t.R6 += Vector128.WidenLower(a.A67); t.R7 += Vector128.WidenUpper(a.A67);
        a = default;
    }

    /// <summary>t_r += lanes of row r · s[r·stride] (8 row scales, unsigned or signed bytes), then clears the int16 lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void FlushScaled(ref Lanes16 a, ref Rows32 t, byte* s, int stride, bool signed)
    {
        t.R0 += Vector128.WidenLower(a.A01) * Vector128.Create(Scale(s, 0, signed));
        t.R1 += Vector128.WidenUpper(a.A01) * Vector128.Create(Scale(s, stride, signed));
        t.R2 += Vector128.WidenLower(a.A23) * Vector128.Create(Scale(s, 2 * stride, signed));
        t.R3 += Vector128.WidenUpper(a.A23) * Vector128.Create(Scale(s, 3 * stride, signed));
        t.R4 += Vector128.WidenLower(a.A45) * Vector128.Create(Scale(s, 4 * stride, signed));
        t.R5 += Vector128.WidenUpper(a.A45) * Vector128.Create(Scale(s, 5 * stride, signed));
        t.R6 += Vector128.WidenLower(a.A67) * Vector128.Create(Scale(s, 6 * stride, signed));
        t.R7 += Vector128.WidenUpper(a.A67) * Vector128.Create(Scale(s, 7 * stride, signed));
        a = default;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static int Scale(byte* s, int offset, bool signed) => signed ? ((sbyte*)s)[offset] : s[offset];

    /// <summary>The totals of rows 0–3 and 4–7 (each the sum of its row's 4 lanes), then clears the accumulators.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Totals(ref Rows32 t, out Vector128<int> lo, out Vector128<int> hi)
    {
        lo = Vector128.Create(Vector128.Sum(t.R0), Vector128.Sum(t.R1), Vector128.Sum(t.R2), Vector128.Sum(t.R3));
        hi = Vector128.Create(Vector128.Sum(t.R4), Vector128.Sum(t.R5), Vector128.Sum(t.R6), Vector128.Sum(t.R7));
        t = default;
    }

    /// <summary>4 fp16 values at p to f32, by the same bit trick as <see cref="Interleaved8.HalfToFloat8"/> (finite values, subnormals included).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector128<float> HalfToFloat4(byte* p)
    {
        var h = Vector128.WidenLower(Vector128.CreateScalarUnsafe(*(ulong*)p).AsUInt16());
        var em = (h & Vector128.Create(0x7fffu)) << 13;
        var f = em.AsSingle() * Vector128.Create(5.192296858534828e+33f); // 2^112
        var sign = (h & Vector128.Create(0x8000u)) << 16;
        return (f.AsUInt32() | sign).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector128<float> Fma(Vector128<float> a, Vector128<float> b, Vector128<float> c) => Vector128.FusedMultiplyAdd(a, b, c);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector128<float> ToFloat(Vector128<int> v) => Vector128.ConvertToSingle(v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector128<byte> LowNibbles(Vector128<byte> v) => v & Vector128.Create((byte)0x0F);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector128<byte> HighNibbles(Vector128<byte> v) => Vector128.ShiftRightLogical(v, 4);

    /// <summary>Bit <paramref name="plane"/> of each byte of h moved to bit 4 (the fifth bit of a 5-bit weight).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector128<byte> Fifth(Vector128<byte> h, int plane) => (Vector128.ShiftRightLogical(h, plane) & Vector128<byte>.One) << 4;

    static void Store(Vector128<float> lo, Vector128<float> hi, float* y, int valid)
    {
        if (valid == 8) { lo.Store(y); hi.Store(y + 4); return; }
        for (int r = 0; r < valid; r++) y[r] = r < 4 ? lo.GetElement(r) : hi.GetElement(r - 4);
    }

    // ---- 32-block types (layout: Block32Matrix) ------------------------------------------------------------

    /// <summary>
    /// One input against one group of 8 rows of a 32-block type: chunk of <paramref name="chunk"/> bytes per block, fp16
    /// scales at 0, fp16 mins at <paramref name="minOff"/>, fifth-bit planes at <paramref name="qhOff"/>, quants at <paramref name="qOff"/>.
    /// </summary>
    public static void DotBlock32(GgmlType type, byte* g, int nb, int chunk, int minOff, int qhOff, int qOff, byte* xq, float* y, int valid)
    {
        sbyte* q = (sbyte*)xq;
        float* dx = ActivationQuantizer.Q32Scales(xq, nb), sx = ActivationQuantizer.Q32Q81Sums(xq, nb);
        int* ix = ActivationQuantizer.Q32Sums(xq, nb);
        bool five = type is GgmlType.Q5_0 or GgmlType.Q5_1, hasMin = type is GgmlType.Q4_1 or GgmlType.Q5_1;
        int offsetShift = five ? 4 : 3;
        Vector128<float> fLo = default, fHi = default;
        var a = new Lanes16();
        var t = new Rows32();
        byte* c = g;
        for (int b = 0; b < nb; b++, c += chunk, q += 32)
        {
            byte* w = c + qOff;
            if (type == GgmlType.Q8_0)
            {
                // Two steps at most in int16 (|w·x| ≤ 128·127 per step).
                for (int s = 0; s < 8; s += 2)
                {
                    StepSigned(ref a, Vector128.Load((sbyte*)w + 32 * s), Vector128.Load((sbyte*)w + 32 * s + 16), q + 4 * s);
                    StepSigned(ref a, Vector128.Load((sbyte*)w + 32 * s + 32), Vector128.Load((sbyte*)w + 32 * s + 48), q + 4 * s + 4);
                    Flush(ref a, ref t);
                }
            }
            else
            {
                Vector128<byte> hLo = default, hHi = default;
                if (five) { hLo = Vector128.Load(c + qhOff); hHi = Vector128.Load(c + qhOff + 16); }
                // Steps 0–3: low nibbles of the 4 vectors; steps 4–7: their high nibbles (fifth bits: planes 0–3, 4–7).
                for (int s = 0; s < 8; s++)
                {
                    var lo = Vector128.Load(w + 32 * (s & 3));
                    var hi = Vector128.Load(w + 32 * (s & 3) + 16);
                    if (s < 4) { lo = LowNibbles(lo); hi = LowNibbles(hi); }
                    else { lo = HighNibbles(lo); hi = HighNibbles(hi); }
                    if (five) { lo |= Fifth(hLo, s); hi |= Fifth(hHi, s); }
                    Step(ref a, lo, hi, q + 4 * s);
                }
                Flush(ref a, ref t);
            }
            Totals(ref t, out var tLo, out var tHi);
            var d = Vector128.Create(dx[b]);
            var dLo = HalfToFloat4(c) * d;
            var dHi = HalfToFloat4(c + 8) * d;
            if (type == GgmlType.Q8_0)
            {
                fLo = Fma(ToFloat(tLo), dLo, fLo);
                fHi = Fma(ToFloat(tHi), dHi, fHi);
            }
            else if (hasMin)
            {
                var s = Vector128.Create(sx[b]);
                fLo = Fma(HalfToFloat4(c + minOff), s, Fma(ToFloat(tLo), dLo, fLo));
                fHi = Fma(HalfToFloat4(c + minOff + 8), s, Fma(ToFloat(tHi), dHi, fHi));
            }
            else
            {
                var off = Vector128.Create(ix[b] << offsetShift);
                fLo = Fma(ToFloat(tLo - off), dLo, fLo);
                fHi = Fma(ToFloat(tHi - off), dHi, fHi);
            }
        }
        Store(fLo, fHi, y, valid);
    }

    // ---- K-quants (layout: InterleavedKQuantMatrix) -------------------------------------------------------

    /// <summary>One input against one group of 8 rows of Q4_K or Q5_K (chunks of 1184 / 1440 bytes per super-block).</summary>
    public static void DotQ45K(byte* c, int nb, bool five, byte* xq, float* y, int valid)
    {
        sbyte* q = (sbyte*)xq;
        float* dx = ActivationQuantizer.Q256Scales(xq, nb);
        short* pairSums = ActivationQuantizer.Q256PairSums(xq, nb);
        int chunk = five ? 1440 : 1184, qOff = five ? 416 : 160;
        Vector128<float> fLo = default, fHi = default;
        var a = new Lanes16();
        var t = new Rows32();
        int* mins = stackalloc int[8];
        for (int b = 0; b < nb; b++, c += chunk)
        {
            sbyte* x = q + 256 * b;
            for (int j = 0; j < 8; j++)
            {
                // Sub-block j = 2p + h: columns 32j..32j+31; step s (4 columns) from vector (s & 3) of pair p's first
                // (s < 4) or second 128 bytes, low (h = 0) or high nibbles; fifth bits: bit s of plane vector j.
                byte* w = c + qOff + 256 * (j >> 1);
                Vector128<byte> pLo = default, pHi = default;
                if (five) { pLo = Vector128.Load(c + 160 + 32 * j); pHi = Vector128.Load(c + 160 + 32 * j + 16); }
                for (int s = 0; s < 8; s++)
                {
                    byte* v = w + 128 * (s >> 2) + 32 * (s & 3);
                    var lo = Vector128.Load(v);
                    var hi = Vector128.Load(v + 16);
                    if ((j & 1) == 0) { lo = LowNibbles(lo); hi = LowNibbles(hi); }
                    else { lo = HighNibbles(lo); hi = HighNibbles(hi); }
                    if (five) { lo |= Fifth(pLo, s); hi |= Fifth(pHi, s); }
                    Step(ref a, lo, hi, x + 32 * j + 4 * s);
                }
                FlushScaled(ref a, ref t, c + 32 + 8 * j, 1, signed: false);
            }
            Totals(ref t, out var tLo, out var tHi);
            // Σ_j min[j][r] · (32-sum j of the activation), as Mins in the AVX2 kernel.
            short* ps = pairSums + 8 * b;
            for (int r = 0; r < 8; r++)
            {
                int m = 0;
                for (int j = 0; j < 8; j++) m += c[96 + 16 * (j >> 1) + 2 * r + (j & 1)] * ps[j];
                mins[r] = m;
            }
            var d = Vector128.Create(dx[b]);
            fLo = Fma(-ToFloat(Vector128.Load(mins)), HalfToFloat4(c + 16) * d, Fma(ToFloat(tLo), HalfToFloat4(c) * d, fLo));
            fHi = Fma(-ToFloat(Vector128.Load(mins + 4)), HalfToFloat4(c + 24) * d, Fma(ToFloat(tHi), HalfToFloat4(c + 8) * d, fHi));
        }
        Store(fLo, fHi, y, valid);
    }

    /// <summary>One input against one group of 8 rows of Q6_K (chunks of 1680 bytes per super-block).</summary>
    public static void DotQ6K(byte* c, int nb, byte* xq, float* y, int valid)
    {
        sbyte* q = (sbyte*)xq;
        float* dx = ActivationQuantizer.Q256Scales(xq, nb);
        short* blockSums = ActivationQuantizer.Q256BlockSums(xq, nb);
        Vector128<float> fLo = default, fHi = default;
        var a = new Lanes16();
        var t = new Rows32();
        var low6 = Vector128.Create((byte)0x3F);
        int* offsets = stackalloc int[8];
        for (int b = 0; b < nb; b++, c += 1680)
        {
            sbyte* x = q + 256 * b;
            for (int grp = 0; grp < 16; grp++)
            {
                // 16-column group: steps 0–2 are the low 6 bits of vectors va, vb, vc; step 3 is gathered from their top 2 bits.
                byte* w = c + 144 + 96 * grp;
                var vaLo = Vector128.Load(w); var vaHi = Vector128.Load(w + 16);
                var vbLo = Vector128.Load(w + 32); var vbHi = Vector128.Load(w + 48);
                var vcLo = Vector128.Load(w + 64); var vcHi = Vector128.Load(w + 80);
                sbyte* xg = x + 16 * grp;
                Step(ref a, vaLo & low6, vaHi & low6, xg);
                Step(ref a, vbLo & low6, vbHi & low6, xg + 4);
                Step(ref a, vcLo & low6, vcHi & low6, xg + 8);
                Step(ref a, Top2(vaLo, vbLo, vcLo), Top2(vaHi, vbHi, vcHi), xg + 12);
                // Scales of group grp: pair grp/2, [row][2] signed bytes.
                FlushScaled(ref a, ref t, c + 16 + 16 * (grp >> 1) + (grp & 1), 2, signed: true);
            }
            Totals(ref t, out var tLo, out var tHi);
            // Σ_g scale[g][r] · (16-sum g of the activation): the −32 offset, as Offsets in the AVX2 kernel.
            short* bs = blockSums + 16 * b;
            for (int r = 0; r < 8; r++)
            {
                int o = 0;
                for (int grp = 0; grp < 16; grp++) o += ((sbyte*)c)[16 + 16 * (grp >> 1) + 2 * r + (grp & 1)] * bs[grp];
                offsets[r] = o << 5;
            }
            var d = Vector128.Create(dx[b]);
            fLo = Fma(ToFloat(tLo - Vector128.Load(offsets)), HalfToFloat4(c) * d, fLo);
            fHi = Fma(ToFloat(tHi - Vector128.Load(offsets + 4)), HalfToFloat4(c + 8) * d, fHi);
        }
        Store(fLo, fHi, y, valid);
    }

    /// <summary>The fourth 6-bit value of a Q6_K step from the top 2 bits of the three step vectors (bits 4–5, 2–3, 0–1).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector128<byte> Top2(Vector128<byte> va, Vector128<byte> vb, Vector128<byte> vc) =>
        (Vector128.ShiftRightLogical(va, 2) & Vector128.Create((byte)0x30))
        | (Vector128.ShiftRightLogical(vb, 4) & Vector128.Create((byte)0x0C))
        | Vector128.ShiftRightLogical(vc, 6);
}
