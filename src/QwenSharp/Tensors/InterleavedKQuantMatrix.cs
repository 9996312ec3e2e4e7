using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using QwenSharp.Tensors.Quantization;
using static QwenSharp.Tensors.Interleaved8;

namespace QwenSharp.Tensors;

/// <summary>
/// A Q4_K, Q5_K or Q6_K matrix repacked at load into the 8-row-interleaved layout of <see cref="Interleaved8"/>, with
/// the 6-bit scales and mins decoded once (no per-super-block unpacking in the kernel). Per group of 8 rows and
/// super-block of 256 columns, one chunk:
/// <list type="bullet">
/// <item>Q4_K (1184 B): d[8] fp16 | dmin[8] fp16 | scales [sub-block j][row] u8 (64) | mins [pair p][row][2] u8 (64) |
/// quants [pair p][step s] 32 B, byte 4·r + t = the GGUF byte 32p + 4s + t of row r (low nibble: column 64p + 4s + t,
/// high nibble: column 64p + 32 + 4s + t).</item>
/// <item>Q5_K (1440 B): as Q4_K, with fifth-bit planes [sub-block j] 32 B before the quants (bit s of byte 4·r + t:
/// column 32j + 4s + t).</item>
/// <item>Q6_K (1680 B): d[8] fp16 | scales [pair p][row][2] i8 (128) | 6-bit values [16-column group g][k = 0..2]
/// 32 B (1536): bits 0–5 of byte 4·r + t hold column 16g + 4k + t of row r; the top 2 bits of the three bytes hold
/// column 16g + 12 + t (bits 4–5, 2–3, 0–1 of it for k = 0, 1, 2), so three bytes carry four 6-bit values.</item>
/// </list>
/// The kernels sum each 32-column sub-block (16 for Q6_K) in int16 lanes (as many steps as cannot overflow), apply
/// the sub-block scale with one <c>vpmaddwd</c> per row lane, and the mins (Q4_K/Q5_K, with the activation's 32-sums)
/// or the −32 offset (Q6_K, with its 16-sums) with one <c>vpmaddwd</c> per pair of sub-blocks: the integer sums equal
/// ggml's, then one float multiply-add per super-block. Activations are ggml's Q8_K (<see cref="InputFormat.Q8Blocks256"/>).
/// </summary>
public sealed unsafe class InterleavedKQuantMatrix : RepackedMatrix
{
    readonly GgmlType _type;
    readonly int _nb;          // super-blocks per row
    readonly int _chunk;
    readonly long _groupStride;

    public static bool Handles(GgmlType t) => t is GgmlType.Q4_K or GgmlType.Q5_K or GgmlType.Q6_K;

    /// <summary>Chunk bytes per (row group, super-block).</summary>
    static int ChunkBytes(GgmlType t) => t switch { GgmlType.Q4_K => 1184, GgmlType.Q5_K => 1440, _ => 1680 };

    /// <summary>
    /// Repacks <paramref name="rows"/> GGUF rows at <paramref name="src"/> into native memory, now or (<paramref name="lazy"/>)
    /// on first use (mixture-of-experts weights: experts no token is routed to are never read or copied). With
    /// <paramref name="releaseMappedSource"/>, the source pages (a file mapping) are dropped from the process once read.
    /// </summary>
    public InterleavedKQuantMatrix(GgmlType type, byte* src, int rows, int cols, bool releaseMappedSource = false, KernelPath kernels = KernelPath.Auto, bool lazy = false)
        : base(rows, cols, Handles(type) ? GgmlTypeInfo.RowBytes(type, cols) * rows : 0, releaseMappedSource, kernels)
    {
        if (!Handles(type)) throw new ArgumentException($"{type} is not a K-quant type", nameof(type));
        if (cols % 256 != 0) throw new ArgumentException($"{type} rows must be a multiple of 256 elements, got {cols}", nameof(cols));
        _type = type;
        _nb = cols / 256;
        _chunk = ChunkBytes(type);
        _groupStride = (long)_nb * _chunk;
        PackNowOrOnFirstUse(src, lazy);
    }

    protected override long PackedBytes => (Rows + 7) / 8 * _groupStride;

    private protected override void Pack(byte* src, byte* data, ref NativeMemoryHelper.SequentialRelease release)
    {
        int blockBytes = GgmlTypeInfo.Layout(_type).TypeSize;
        for (int r = 0; r < Rows; r++)
        {
            release.Advance((long)r * _nb * blockBytes);
            for (int b = 0; b < _nb; b++)
                WriteRow(_type, src + ((long)r * _nb + b) * blockBytes, data + (r / 8) * _groupStride + (long)b * _chunk, r % 8);
        }
    }

    /// <summary>Writes one GGUF super-block as row <paramref name="r"/> (0..7) of an interleaved chunk, straight from its bytes.</summary>
    internal static void WriteRow(GgmlType type, byte* block, byte* chunk, int r)
    {
        if (type == GgmlType.Q6_K) WriteQ6K(block, chunk, r);
        else WriteQ45K(block, chunk, r, five: type == GgmlType.Q5_K);
    }

    /// <summary>The same as <see cref="WriteRow"/> through the plain form (<see cref="SuperBlock"/>: every quant unpacked, then placed): the reference the tests compare it with.</summary>
    internal static void WriteRowReference(GgmlType type, byte* block, byte* chunk, int r)
    {
        var sb = new SuperBlock();
        sb.Decode(type, block);
        sb.Write(type, chunk, r);
    }

    /// <summary>
    /// Writes one GGUF Q4_K / Q5_K super-block as row <paramref name="r"/> of a chunk, straight from its bytes (what
    /// <see cref="SuperBlock.Decode"/> + <see cref="SuperBlock.Write"/> give, without unpacking the 256 quants): the nibble
    /// bytes keep their GGUF order, 4 at a time; the fifth bits of column 32j + 4s + t are bit j of GGUF qh[4s + t].
    /// </summary>
    static void WriteQ45K(byte* s, byte* c, int r, bool five)
    {
        ((ushort*)c)[r] = *(ushort*)s;
        ((ushort*)(c + 16))[r] = *(ushort*)(s + 2);
        for (int j = 0; j < 8; j++)
        {
            BlockDequantizer.ScaleMinK4(j, s + 4, out int sc, out int m);
            c[32 + 8 * j + r] = (byte)sc;
            c[96 + 16 * (j >> 1) + 2 * r + (j & 1)] = (byte)m;
        }
        byte* qs = s + (five ? 48 : 16), nib = c + (five ? 416 : 160);
        for (int p = 0; p < 4; p++)
            for (int st = 0; st < 8; st++)
                *(uint*)(nib + 256 * p + 32 * st + 4 * r) = *(uint*)(qs + 32 * p + 4 * st);
        if (!five) return;
        byte* qh = s + 16;
        for (int j = 0; j < 8; j++)
            for (int t = 0; t < 4; t++)
            {
                int bits = 0;
                for (int st = 0; st < 8; st++) bits |= ((qh[4 * st + t] >> j) & 1) << st;
                c[160 + 32 * j + 4 * r + t] = (byte)bits;
            }
    }

    /// <summary>
    /// Writes one GGUF Q6_K super-block as row <paramref name="r"/> of a chunk. The 6-bit values are rebuilt 4 at a time
    /// in 32-bit words (the low nibbles from ql, the 2 high bits from qh), then each 16-column group's three words take
    /// the fourth step's 2-bit pieces in their top bits (per byte; no bit crosses a byte).
    /// </summary>
    static void WriteQ6K(byte* s, byte* c, int r)
    {
        const uint Low4 = 0x0F0F0F0F, Low2 = 0x03030303;
        byte* q = stackalloc byte[256];
        byte* ql = s, qh = s + 128;
        for (int n = 0; n < 2; n++)
            for (int l = 0; l < 32; l += 4)
            {
                uint l0 = *(uint*)(ql + 64 * n + l), l1 = *(uint*)(ql + 64 * n + 32 + l), h = *(uint*)(qh + 32 * n + l);
                *(uint*)(q + 128 * n + l) = (l0 & Low4) | ((h & Low2) << 4);
                *(uint*)(q + 128 * n + l + 32) = (l1 & Low4) | (((h >> 2) & Low2) << 4);
                *(uint*)(q + 128 * n + l + 64) = ((l0 >> 4) & Low4) | (((h >> 4) & Low2) << 4);
                *(uint*)(q + 128 * n + l + 96) = ((l1 >> 4) & Low4) | (((h >> 6) & Low2) << 4);
            }
        for (int g = 0; g < 16; g++)
        {
            uint a = *(uint*)(q + 16 * g), b = *(uint*)(q + 16 * g + 4), d = *(uint*)(q + 16 * g + 8), q3 = *(uint*)(q + 16 * g + 12);
            byte* v = c + 144 + 96 * g + 4 * r;
            *(uint*)v = a | (((q3 >> 4) & Low2) << 6);
            *(uint*)(v + 32) = b | (((q3 >> 2) & Low2) << 6);
            *(uint*)(v + 64) = d | ((q3 & Low2) << 6);
        }
        sbyte* scales = (sbyte*)(s + 192);
        for (int p = 0; p < 8; p++) { ((sbyte*)c)[16 + 16 * p + 2 * r] = scales[2 * p]; ((sbyte*)c)[16 + 16 * p + 2 * r + 1] = scales[2 * p + 1]; }
        ((ushort*)c)[r] = *(ushort*)(s + 208);
    }

    byte* Chunk(int group, int b) => Data + group * _groupStride + (long)b * _chunk;

    public override GgmlType Type => _type;
    public override int RowGranularity => Interleaved8.Rows;
    public override long ByteSize => (long)Rows * _nb * GgmlTypeInfo.Layout(_type).TypeSize;
    public override InputFormat InputFormat => InputFormat.Q8Blocks256;
    public override int QuantizedInputRowBytes => ActivationQuantizer.Q8Blocks256RowBytes(Cols);
    public override void QuantizeInputRow(float* x, byte* dst) => ActivationQuantizer.QuantizeBlocks256(x, Cols, dst);


    /// <summary>Rebuilds the GGUF super-blocks of one row (for dequantization and the portable path).</summary>
    void GgufRow(int row, byte* dst)
    {
        var sb = new SuperBlock();
        int blockBytes = GgmlTypeInfo.Layout(_type).TypeSize;
        for (int b = 0; b < _nb; b++)
        {
            sb.Read(_type, Chunk(row / 8, b), row % 8);
            sb.Encode(_type, dst + (long)b * blockBytes);
        }
    }

    public override void DequantizeRow(int row, Span<float> dst)
    {
        if ((uint)row >= (uint)Rows) throw new ArgumentOutOfRangeException(nameof(row));
        Prepare();
        byte* g = stackalloc byte[(int)GgmlTypeInfo.RowBytes(_type, Cols)];
        fixed (float* y = dst)
        {
            GgufRow(row, g);
            BlockDequantizer.Row(_type, g, y, Cols);
        }
    }

    public override void Compute(in MatMulInput x, int n, float* y, int ldy, int r0, int r1)
    {
        Prepare();
        int qs = x.QuantizedStride;
        // The scalar path rebuilds one GGUF row at a time here (a few KB; no allocation in the token loop).
        byte* row = stackalloc byte[KernelPath == KernelPath.Scalar ? (int)GgmlTypeInfo.RowBytes(_type, Cols) : 0];
        for (int r = r0; r < r1; r += 8)
        {
            int group = r / 8;
            int valid = Math.Min(8, Rows - r);
            if (KernelPath == KernelPath.Vector128)
            {
                for (int i = 0; i < n; i++)
                {
                    byte* xi = x.Quantized + (long)i * qs;
                    if (_type == GgmlType.Q6_K) Interleaved8Vector128.DotQ6K(Chunk(group, 0), _nb, xi, y + (long)i * ldy + r, valid);
                    else Interleaved8Vector128.DotQ45K(Chunk(group, 0), _nb, _type == GgmlType.Q5_K, xi, y + (long)i * ldy + r, valid);
                }
                continue;
            }
            if (KernelPath == KernelPath.Scalar)
            {
                for (int k = 0; k < valid; k++)
                {
                    GgufRow(r + k, row);
                    for (int i = 0; i < n; i++) y[(long)i * ldy + r + k] = ReferenceDot.Dot(_type, row, x.Quantized + (long)i * qs, Cols);
                }
                continue;
            }
            byte* c = Chunk(group, 0);
            int i0 = 0;
            for (; i0 + 4 <= n; i0 += 4) Dot<Inputs4>(c, x.Quantized + (long)i0 * qs, qs, y + (long)i0 * ldy + r, ldy, valid);
            switch (n - i0)
            {
                case 3: Dot<Inputs3>(c, x.Quantized + (long)i0 * qs, qs, y + (long)i0 * ldy + r, ldy, valid); break;
                case 2: Dot<Inputs2>(c, x.Quantized + (long)i0 * qs, qs, y + (long)i0 * ldy + r, ldy, valid); break;
                case 1: Dot<Inputs1>(c, x.Quantized + (long)i0 * qs, qs, y + (long)i0 * ldy + r, ldy, valid); break;
            }
        }
    }

    void Dot<N>(byte* c, byte* x, int xs, float* y, int ldy, int valid) where N : struct, IInputCount
    {
        switch (_type)
        {
            case GgmlType.Q4_K: DotQ4K<N>(c, _nb, x, xs, y, ldy, valid); break;
            case GgmlType.Q5_K: DotQ5K<N>(c, _nb, x, xs, y, ldy, valid); break;
            default: DotQ6K<N>(c, _nb, x, xs, y, ldy, valid); break;
        }
    }

    // ---- AVX2 kernels: 8 rows × N inputs ---------------------------------------------------------------

    /// <summary>Σ_pairs mins · 32-sums (Q4_K/Q5_K) for one input.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<int> Mins(byte* c, short* ps)
    {
        var m = Avx2.MultiplyAddAdjacent(Avx2.ConvertToVector256Int16(c + 96).AsInt16(), Pair(ps));
        m = Avx2.Add(m, Avx2.MultiplyAddAdjacent(Avx2.ConvertToVector256Int16(c + 112).AsInt16(), Pair(ps + 2)));
        m = Avx2.Add(m, Avx2.MultiplyAddAdjacent(Avx2.ConvertToVector256Int16(c + 128).AsInt16(), Pair(ps + 4)));
        return Avx2.Add(m, Avx2.MultiplyAddAdjacent(Avx2.ConvertToVector256Int16(c + 144).AsInt16(), Pair(ps + 6)));
    }

    /// <summary>Two int16 values at p in every int32 lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<short> Pair(short* p) => Avx2.BroadcastScalarToVector256((int*)p).AsInt16();

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void DotQ4K<N>(byte* c, int nb, byte* x0, int xs, float* y, int ldy, int valid) where N : struct, IInputCount =>
        DotQ45K<N>(c, nb, x0, xs, y, ldy, valid, five: false);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void DotQ5K<N>(byte* c, int nb, byte* x0, int xs, float* y, int ldy, int valid) where N : struct, IInputCount =>
        DotQ45K<N>(c, nb, x0, xs, y, ldy, valid, five: true);

    /// <summary>Q4_K / Q5_K: per sub-block of 32 columns, 8 steps (4-bit) or 2 × 4 steps (5-bit) in int16, times its scale.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void DotQ45K<N>(byte* c, int nb, byte* x0, int xs, float* y, int ldy, int valid, bool five) where N : struct, IInputCount
    {
        byte* x1 = x0 + xs, x2 = x1 + xs, x3 = x2 + xs;
        sbyte* q0 = (sbyte*)x0, q1 = (sbyte*)x1, q2 = (sbyte*)x2, q3 = (sbyte*)x3;
        float* d0 = ActivationQuantizer.Q256Scales(x0, nb), d1 = ActivationQuantizer.Q256Scales(x1, nb);
        float* d2 = ActivationQuantizer.Q256Scales(x2, nb), d3 = ActivationQuantizer.Q256Scales(x3, nb);
        short* p0 = ActivationQuantizer.Q256PairSums(x0, nb), p1 = ActivationQuantizer.Q256PairSums(x1, nb);
        short* p2 = ActivationQuantizer.Q256PairSums(x2, nb), p3 = ActivationQuantizer.Q256PairSums(x3, nb);
        int chunk = five ? 1440 : 1184, qOff = five ? 416 : 160;
        Vector256<float> f0 = default, f1 = default, f2 = default, f3 = default;
        for (int b = 0; b < nb; b++, c += chunk)
        {
            if (N.Value == 1) Prefetch(c, chunk);
            Vector256<int> t0 = default, t1 = default, t2 = default, t3 = default;
            Vector256<short> a0 = default, a1 = default, a2 = default, a3 = default;
            sbyte* r0 = q0 + 256 * b, r1 = q1 + 256 * b, r2 = q2 + 256 * b, r3 = q3 + 256 * b;
            byte* w = c + qOff, sc = c + 32, h = c + 160;
            for (int p = 0; p < 4; p++, w += 256, sc += 16, h += 64, r0 += 64, r1 += 64, r2 += 64, r3 += 64)
            {
                if (five)
                {
                    // Sub-block 2p: low nibbles, fifth bits of plane vector 2p; 2p + 1: high nibbles, vector 2p + 1.
                    var hl = Vector256.Load(h).AsUInt16();
                    var s = ExpandU8(sc);
                    Fives4<N>(w, false, hl, false, r0, r1, r2, r3, ref a0, ref a1, ref a2, ref a3);
                    Scale<N>(s, ref a0, ref a1, ref a2, ref a3, ref t0, ref t1, ref t2, ref t3);
                    Fives4<N>(w + 128, false, hl, true, r0 + 16, r1 + 16, r2 + 16, r3 + 16, ref a0, ref a1, ref a2, ref a3);
                    Scale<N>(s, ref a0, ref a1, ref a2, ref a3, ref t0, ref t1, ref t2, ref t3);
                    var hh = Vector256.Load(h + 32).AsUInt16();
                    s = ExpandU8(sc + 8);
                    Fives4<N>(w, true, hh, false, r0 + 32, r1 + 32, r2 + 32, r3 + 32, ref a0, ref a1, ref a2, ref a3);
                    Scale<N>(s, ref a0, ref a1, ref a2, ref a3, ref t0, ref t1, ref t2, ref t3);
                    Fives4<N>(w + 128, true, hh, true, r0 + 48, r1 + 48, r2 + 48, r3 + 48, ref a0, ref a1, ref a2, ref a3);
                    Scale<N>(s, ref a0, ref a1, ref a2, ref a3, ref t0, ref t1, ref t2, ref t3);
                }
                else
                {
                    Nibbles4<N>(w, false, r0, r1, r2, r3, ref a0, ref a1, ref a2, ref a3);
                    Nibbles4<N>(w + 128, false, r0 + 16, r1 + 16, r2 + 16, r3 + 16, ref a0, ref a1, ref a2, ref a3);
                    Scale<N>(ExpandU8(sc), ref a0, ref a1, ref a2, ref a3, ref t0, ref t1, ref t2, ref t3);
                    Nibbles4<N>(w, true, r0 + 32, r1 + 32, r2 + 32, r3 + 32, ref a0, ref a1, ref a2, ref a3);
                    Nibbles4<N>(w + 128, true, r0 + 48, r1 + 48, r2 + 48, r3 + 48, ref a0, ref a1, ref a2, ref a3);
                    Scale<N>(ExpandU8(sc + 8), ref a0, ref a1, ref a2, ref a3, ref t0, ref t1, ref t2, ref t3);
                }
            }
            var d = HalfToFloat8(c);
            var dm = HalfToFloat8(c + 16);
            f0 = Fma.MultiplyAddNegated(Avx.ConvertToVector256Single(Mins(c, p0 + 8 * b)), dm * Vector256.Create(d0[b]),
                 Fma.MultiplyAdd(Avx.ConvertToVector256Single(t0), d * Vector256.Create(d0[b]), f0));
            if (N.Value > 1) f1 = Fma.MultiplyAddNegated(Avx.ConvertToVector256Single(Mins(c, p1 + 8 * b)), dm * Vector256.Create(d1[b]),
                 Fma.MultiplyAdd(Avx.ConvertToVector256Single(t1), d * Vector256.Create(d1[b]), f1));
            if (N.Value > 2) f2 = Fma.MultiplyAddNegated(Avx.ConvertToVector256Single(Mins(c, p2 + 8 * b)), dm * Vector256.Create(d2[b]),
                 Fma.MultiplyAdd(Avx.ConvertToVector256Single(t2), d * Vector256.Create(d2[b]), f2));
            if (N.Value > 3) f3 = Fma.MultiplyAddNegated(Avx.ConvertToVector256Single(Mins(c, p3 + 8 * b)), dm * Vector256.Create(d3[b]),
                 Fma.MultiplyAdd(Avx.ConvertToVector256Single(t3), d * Vector256.Create(d3[b]), f3));
        }
        Store(f0, y, valid);
        if (N.Value > 1) Store(f1, y + ldy, valid);
        if (N.Value > 2) Store(f2, y + 2 * ldy, valid);
        if (N.Value > 3) Store(f3, y + 3 * ldy, valid);
    }

    static Vector128<sbyte> EvenBytes { [MethodImpl(MethodImplOptions.AggressiveInlining)] get => Vector128.Create((sbyte)0, 0, 2, 2, 4, 4, 6, 6, 8, 8, 10, 10, 12, 12, 14, 14); }
    static Vector128<sbyte> OddBytes { [MethodImpl(MethodImplOptions.AggressiveInlining)] get => Vector128.Create((sbyte)1, 1, 3, 3, 5, 5, 7, 7, 9, 9, 11, 11, 13, 13, 15, 15); }

    /// <summary>Σ_g scale_g · 16-sum_g (the −32 offset of Q6_K, before the ×32) for one input.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<int> Offsets(byte* c, short* bs)
    {
        var o = Vector256<int>.Zero;
        for (int p = 0; p < 8; p++)
            o = Avx2.Add(o, Avx2.MultiplyAddAdjacent(Avx2.ConvertToVector256Int16((sbyte*)(c + 16 + 16 * p)), Pair(bs + 2 * p)));
        return o;
    }

    /// <summary>The sign-extended scales of the even (or odd) 16-column group of pair p (scales at ps) of each row, duplicated into both halves of the row lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<short> ScalesQ6(byte* ps, bool odd) =>
        Avx2.ConvertToVector256Int16(Ssse3.Shuffle(Vector128.Load((sbyte*)ps), odd ? OddBytes : EvenBytes));

    /// <summary>
    /// One 16-column group of Q6_K (4 steps, 2 × 2 in int16, times the group's scales s): the 6-bit values of steps
    /// 0, 1, 2 are the low 6 bits of the vectors at w, w + 32, w + 64; step 3 is gathered from their top 2 bits.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Q6Group<N>(byte* w, Vector256<short> s, sbyte* r0, sbyte* r1, sbyte* r2, sbyte* r3,
        ref Vector256<short> a0, ref Vector256<short> a1, ref Vector256<short> a2, ref Vector256<short> a3,
        ref Vector256<int> t0, ref Vector256<int> t1, ref Vector256<int> t2, ref Vector256<int> t3) where N : struct, IInputCount
    {
        var low6 = Vector256.Create((byte)0x3F);
        var va = Vector256.Load(w);
        var vb = Vector256.Load(w + 32);
        var vc = Vector256.Load(w + 64);
        Madd<N>(va & low6, r0, r1, r2, r3, ref a0, ref a1, ref a2, ref a3);
        Madd<N>(vb & low6, r0 + 4, r1 + 4, r2 + 4, r3 + 4, ref a0, ref a1, ref a2, ref a3);
        Scale<N>(s, ref a0, ref a1, ref a2, ref a3, ref t0, ref t1, ref t2, ref t3);
        Madd<N>(vc & low6, r0 + 8, r1 + 8, r2 + 8, r3 + 8, ref a0, ref a1, ref a2, ref a3);
        // 16-bit shifts: the bits a shift brings in from the neighbouring byte are masked off.
        var v3 = (Avx2.ShiftRightLogical(va.AsUInt16(), 2).AsByte() & Vector256.Create((byte)0x30))
               | (Avx2.ShiftRightLogical(vb.AsUInt16(), 4).AsByte() & Vector256.Create((byte)0x0C))
               | (Avx2.ShiftRightLogical(vc.AsUInt16(), 6).AsByte() & Vector256.Create((byte)0x03));
        Madd<N>(v3, r0 + 12, r1 + 12, r2 + 12, r3 + 12, ref a0, ref a1, ref a2, ref a3);
        Scale<N>(s, ref a0, ref a1, ref a2, ref a3, ref t0, ref t1, ref t2, ref t3);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void DotQ6K<N>(byte* c, int nb, byte* x0, int xs, float* y, int ldy, int valid) where N : struct, IInputCount
    {
        byte* x1 = x0 + xs, x2 = x1 + xs, x3 = x2 + xs;
        sbyte* q0 = (sbyte*)x0, q1 = (sbyte*)x1, q2 = (sbyte*)x2, q3 = (sbyte*)x3;
        float* d0 = ActivationQuantizer.Q256Scales(x0, nb), d1 = ActivationQuantizer.Q256Scales(x1, nb);
        float* d2 = ActivationQuantizer.Q256Scales(x2, nb), d3 = ActivationQuantizer.Q256Scales(x3, nb);
        short* b0 = ActivationQuantizer.Q256BlockSums(x0, nb), b1 = ActivationQuantizer.Q256BlockSums(x1, nb);
        short* b2 = ActivationQuantizer.Q256BlockSums(x2, nb), b3 = ActivationQuantizer.Q256BlockSums(x3, nb);
        Vector256<float> f0 = default, f1 = default, f2 = default, f3 = default;
        for (int b = 0; b < nb; b++, c += 1680)
        {
            if (N.Value == 1) Prefetch(c, 1680);
            Vector256<int> t0 = default, t1 = default, t2 = default, t3 = default;
            Vector256<short> a0 = default, a1 = default, a2 = default, a3 = default;
            sbyte* r0 = q0 + 256 * b, r1 = q1 + 256 * b, r2 = q2 + 256 * b, r3 = q3 + 256 * b;
            byte* w = c + 144, ps = c + 16;
            // Pair p of 16-column groups: groups 2p (even scales) and 2p + 1 (odd scales), 96 bytes each.
            for (int p = 0; p < 8; p++, w += 192, ps += 16, r0 += 32, r1 += 32, r2 += 32, r3 += 32)
            {
                Q6Group<N>(w, ScalesQ6(ps, odd: false), r0, r1, r2, r3, ref a0, ref a1, ref a2, ref a3, ref t0, ref t1, ref t2, ref t3);
                Q6Group<N>(w + 96, ScalesQ6(ps, odd: true), r0 + 16, r1 + 16, r2 + 16, r3 + 16, ref a0, ref a1, ref a2, ref a3, ref t0, ref t1, ref t2, ref t3);
            }
            var d = HalfToFloat8(c);
            f0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Avx2.Subtract(t0, Avx2.ShiftLeftLogical(Offsets(c, b0 + 16 * b), 5))), d * Vector256.Create(d0[b]), f0);
            if (N.Value > 1) f1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Avx2.Subtract(t1, Avx2.ShiftLeftLogical(Offsets(c, b1 + 16 * b), 5))), d * Vector256.Create(d1[b]), f1);
            if (N.Value > 2) f2 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Avx2.Subtract(t2, Avx2.ShiftLeftLogical(Offsets(c, b2 + 16 * b), 5))), d * Vector256.Create(d2[b]), f2);
            if (N.Value > 3) f3 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Avx2.Subtract(t3, Avx2.ShiftLeftLogical(Offsets(c, b3 + 16 * b), 5))), d * Vector256.Create(d3[b]), f3);
        }
        Store(f0, y, valid);
        if (N.Value > 1) Store(f1, y + ldy, valid);
        if (N.Value > 2) Store(f2, y + 2 * ldy, valid);
        if (N.Value > 3) Store(f3, y + 3 * ldy, valid);
    }

    /// <summary>One row's super-block in plain form: quants (unsigned: 0..15, 0..31, 0..63), scales, mins, d, dmin.</summary>
    struct SuperBlock
    {
        public fixed byte Q[256];
        public fixed int Scales[16];   // Q4_K/Q5_K: 8 (6-bit); Q6_K: 16 (int8)
        public fixed int Mins[8];
        public ushort D, DMin;

        public void Decode(GgmlType type, byte* s)
        {
            switch (type)
            {
                case GgmlType.Q4_K:
                case GgmlType.Q5_K:
                    {
                        D = *(ushort*)s; DMin = *(ushort*)(s + 2);
                        for (int j = 0; j < 8; j++) { BlockDequantizer.ScaleMinK4(j, s + 4, out int sc, out int m); Scales[j] = sc; Mins[j] = m; }
                        bool five = type == GgmlType.Q5_K;
                        byte* ql = s + (five ? 48 : 16), qh = s + 16;
                        for (int p = 0; p < 4; p++)
                            for (int l = 0; l < 32; l++)
                            {
                                Q[64 * p + l] = (byte)(ql[32 * p + l] & 15);
                                Q[64 * p + 32 + l] = (byte)(ql[32 * p + l] >> 4);
                                if (five)
                                {
                                    Q[64 * p + l] |= (byte)(((qh[l] >> (2 * p)) & 1) << 4);
                                    Q[64 * p + 32 + l] |= (byte)(((qh[l] >> (2 * p + 1)) & 1) << 4);
                                }
                            }
                        break;
                    }
                default:
                    {
                        byte* ql = s, qh = s + 128;
                        for (int n = 0; n < 2; n++)
                            for (int l = 0; l < 32; l++)
                            {
                                byte* L = ql + 64 * n; byte* H = qh + 32 * n;
                                Q[128 * n + l] = (byte)((L[l] & 15) | ((H[l] & 3) << 4));
                                Q[128 * n + l + 32] = (byte)((L[l + 32] & 15) | (((H[l] >> 2) & 3) << 4));
                                Q[128 * n + l + 64] = (byte)((L[l] >> 4) | (((H[l] >> 4) & 3) << 4));
                                Q[128 * n + l + 96] = (byte)((L[l + 32] >> 4) | (((H[l] >> 6) & 3) << 4));
                            }
                        for (int g = 0; g < 16; g++) Scales[g] = ((sbyte*)(s + 192))[g];
                        D = *(ushort*)(s + 208);
                        break;
                    }
            }
        }

        public void Encode(GgmlType type, byte* s)
        {
            switch (type)
            {
                case GgmlType.Q4_K:
                case GgmlType.Q5_K:
                    {
                        *(ushort*)s = D; *(ushort*)(s + 2) = DMin;
                        byte* k = s + 4;
                        for (int j = 0; j < 4; j++)
                        {
                            k[j] = (byte)((Scales[j] & 63) | ((Scales[j + 4] >> 4) << 6));
                            k[j + 4] = (byte)((Mins[j] & 63) | ((Mins[j + 4] >> 4) << 6));
                            k[j + 8] = (byte)((Scales[j + 4] & 15) | ((Mins[j + 4] & 15) << 4));
                        }
                        bool five = type == GgmlType.Q5_K;
                        byte* ql = s + (five ? 48 : 16), qh = s + 16;
                        if (five) new Span<byte>(qh, 32).Clear();
                        for (int p = 0; p < 4; p++)
                            for (int l = 0; l < 32; l++)
                            {
                                ql[32 * p + l] = (byte)((Q[64 * p + l] & 15) | ((Q[64 * p + 32 + l] & 15) << 4));
                                if (five) qh[l] |= (byte)(((Q[64 * p + l] >> 4) << (2 * p)) | ((Q[64 * p + 32 + l] >> 4) << (2 * p + 1)));
                            }
                        break;
                    }
                default:
                    {
                        byte* ql = s, qh = s + 128;
                        for (int n = 0; n < 2; n++)
                            for (int l = 0; l < 32; l++)
                            {
                                byte* L = ql + 64 * n; byte* H = qh + 32 * n;
                                int a = Q[128 * n + l], b = Q[128 * n + l + 32], c = Q[128 * n + l + 64], d = Q[128 * n + l + 96];
                                L[l] = (byte)((a & 15) | ((c & 15) << 4));
                                L[l + 32] = (byte)((b & 15) | ((d & 15) << 4));
                                H[l] = (byte)((a >> 4) | ((b >> 4) << 2) | ((c >> 4) << 4) | ((d >> 4) << 6));
                            }
                        for (int g = 0; g < 16; g++) ((sbyte*)(s + 192))[g] = (sbyte)Scales[g];
                        *(ushort*)(s + 208) = D;
                        break;
                    }
            }
        }

        /// <summary>Writes this super-block as row <paramref name="r"/> (0..7) of an interleaved chunk.</summary>
        public void Write(GgmlType type, byte* c, int r)
        {
            ((ushort*)c)[r] = D;
            byte* nib;
            if (type == GgmlType.Q6_K)
            {
                for (int p = 0; p < 8; p++) { ((sbyte*)c)[16 + 16 * p + 2 * r] = (sbyte)Scales[2 * p]; ((sbyte*)c)[16 + 16 * p + 2 * r + 1] = (sbyte)Scales[2 * p + 1]; }
                for (int g = 0; g < 16; g++)
                    for (int t = 0; t < 4; t++)
                    {
                        byte* v = c + 144 + 96 * g + 4 * r + t;
                        int q3 = Q[16 * g + 12 + t];
                        v[0] = (byte)(Q[16 * g + t] | ((q3 >> 4) << 6));
                        v[32] = (byte)(Q[16 * g + 4 + t] | (((q3 >> 2) & 3) << 6));
                        v[64] = (byte)(Q[16 * g + 8 + t] | ((q3 & 3) << 6));
                    }
                return;
            }
            else
            {
                ((ushort*)(c + 16))[r] = DMin;
                for (int j = 0; j < 8; j++) c[32 + 8 * j + r] = (byte)Scales[j];
                for (int p = 0; p < 4; p++) { c[96 + 16 * p + 2 * r] = (byte)Mins[2 * p]; c[96 + 16 * p + 2 * r + 1] = (byte)Mins[2 * p + 1]; }
                if (type == GgmlType.Q5_K)
                    for (int j = 0; j < 8; j++)
                        for (int t = 0; t < 4; t++)
                        {
                            int bits = 0;
                            for (int s = 0; s < 8; s++) bits |= ((Q[32 * j + 4 * s + t] >> 4) & 1) << s;
                            c[160 + 32 * j + 4 * r + t] = (byte)bits;
                        }
                nib = c + (type == GgmlType.Q5_K ? 416 : 160);
            }
            for (int p = 0; p < 4; p++)
                for (int s = 0; s < 8; s++)
                    for (int t = 0; t < 4; t++)
                        nib[256 * p + 32 * s + 4 * r + t] = (byte)((Q[64 * p + 4 * s + t] & 15) | ((Q[64 * p + 32 + 4 * s + t] & 15) << 4));
        }

        /// <summary>Reads row <paramref name="r"/> of an interleaved chunk back.</summary>
        public void Read(GgmlType type, byte* c, int r)
        {
            D = ((ushort*)c)[r];
            byte* nib;
            if (type == GgmlType.Q6_K)
            {
                for (int g = 0; g < 16; g++)
                {
                    Scales[g] = ((sbyte*)c)[16 + 16 * (g >> 1) + 2 * r + (g & 1)];
                    for (int t = 0; t < 4; t++)
                    {
                        byte* v = c + 144 + 96 * g + 4 * r + t;
                        Q[16 * g + t] = (byte)(v[0] & 63);
                        Q[16 * g + 4 + t] = (byte)(v[32] & 63);
                        Q[16 * g + 8 + t] = (byte)(v[64] & 63);
                        Q[16 * g + 12 + t] = (byte)(((v[0] >> 6) << 4) | ((v[32] >> 6) << 2) | (v[64] >> 6));
                    }
                }
                return;
            }
            else
            {
                DMin = ((ushort*)(c + 16))[r];
                for (int j = 0; j < 8; j++) { Scales[j] = c[32 + 8 * j + r]; Mins[j] = c[96 + 16 * (j >> 1) + 2 * r + (j & 1)]; }
                nib = c + (type == GgmlType.Q5_K ? 416 : 160);
            }
            for (int p = 0; p < 4; p++)
                for (int s = 0; s < 8; s++)
                    for (int t = 0; t < 4; t++)
                    {
                        byte v = nib[256 * p + 32 * s + 4 * r + t];
                        Q[64 * p + 4 * s + t] = (byte)(v & 15);
                        Q[64 * p + 32 + 4 * s + t] = (byte)(v >> 4);
                    }
            if (type == GgmlType.Q5_K)
                for (int j = 0; j < 8; j++)
                    for (int s = 0; s < 8; s++)
                        for (int t = 0; t < 4; t++)
                            Q[32 * j + 4 * s + t] |= (byte)(((c[160 + 32 * j + 4 * r + t] >> s) & 1) << 4);
        }
    }
}
