using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using QwenSharp.Tensors.Quantization;
using static QwenSharp.Tensors.Interleaved8;

namespace QwenSharp.Tensors;

/// <summary>
/// A matrix in one of ggml's 32-element block types (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1), repacked into native memory
/// in the 8-row-interleaved layout of <see cref="Interleaved8"/>: for each group of 8 rows and each block, one chunk
/// [8 fp16 scales][8 fp16 mins (Q4_1, Q5_1)][32 B fifth bits (Q5_0, Q5_1)][quants]. The quants are 8 vectors of
/// 32 bytes (Q8_0: vector s holds columns 4s..4s+3 of the 8 rows) or 4 (nibble types: the low nibbles of vector v
/// hold columns 4v..4v+3, the high nibbles columns 16+4v..16+4v+3, which is exactly the byte order of a GGUF block,
/// 4 bytes at a time). The fifth bits are 8 bit planes: bit s of byte 4·r + t is the fifth bit of row r, column
/// 4s + t. The products use int8 activations (<see cref="InputFormat.Q8Blocks32"/>) and exact integer dot products
/// per block, as llama.cpp does. Rows past the last multiple of 8 are zero.
/// <para>With <c>lazy</c>, the repack happens on first use (mixture-of-experts weights: experts no token is routed to
/// are never read); with <c>releaseMappedSource</c> too, the source pages (a file mapping) are released afterwards.</para>
/// </summary>
public sealed unsafe class Block32Matrix : RepackedMatrix
{
    readonly GgmlType _type;
    readonly int _nb;              // blocks per row
    readonly int _chunk;           // bytes per (row group, block)
    readonly int _minOff, _qhOff, _qOff;
    readonly long _groupStride;
    readonly int _blockBytes;

    public override GgmlType Type => _type;
    public override int RowGranularity => Interleaved8.Rows;
    public override long ByteSize => (long)Rows * _nb * _blockBytes;
    public override InputFormat InputFormat => InputFormat.Q8Blocks32;
    public override int QuantizedInputRowBytes => ActivationQuantizer.Q8Blocks32RowBytes(Cols);
    public override void QuantizeInputRow(float* x, byte* dst) => ActivationQuantizer.QuantizeBlocks32(x, Cols, dst);

    public static bool Handles(GgmlType t) => t is GgmlType.Q8_0 or GgmlType.Q4_0 or GgmlType.Q4_1 or GgmlType.Q5_0 or GgmlType.Q5_1;

    /// <summary>Repacks <paramref name="rows"/> GGUF rows at <paramref name="src"/> into native memory, now or (lazy) on first use.</summary>
    public Block32Matrix(GgmlType type, byte* src, int rows, int cols, bool lazy = false, bool releaseMappedSource = false, KernelPath kernels = KernelPath.Auto)
        : base(rows, cols, Handles(type) ? GgmlTypeInfo.RowBytes(type, cols) * rows : 0, releaseMappedSource, kernels)
    {
        if (!Handles(type)) throw new ArgumentException($"{type} is not a 32-block type", nameof(type));
        if (cols % 32 != 0) throw new ArgumentException($"{type} rows must be a multiple of 32 elements, got {cols}", nameof(cols));
        _type = type;
        _nb = cols / 32;
        bool hasMin = type is GgmlType.Q4_1 or GgmlType.Q5_1, hasQh = type is GgmlType.Q5_0 or GgmlType.Q5_1;
        int qBytes = type == GgmlType.Q8_0 ? 256 : 128;
        _minOff = 16;
        _qhOff = 16 + (hasMin ? 16 : 0);
        _qOff = _qhOff + (hasQh ? 32 : 0);
        _chunk = _qOff + qBytes;
        _groupStride = (long)_nb * _chunk;
        _blockBytes = GgmlTypeInfo.Layout(type).TypeSize;
        PackNowOrOnFirstUse(src, lazy);
    }

    protected override long PackedBytes => (Rows + 7) / 8 * _groupStride;

    private protected override void Pack(byte* src, byte* data, ref NativeMemoryHelper.SequentialRelease release)
    {
        long rowBytes = (long)_nb * _blockBytes;
        for (int r = 0; r < Rows; r++)
        {
            release.Advance(r * rowBytes);
            byte* s = src + r * rowBytes;
            byte* g = data + (r / 8) * _groupStride;
            int lane = r % 8;
            for (int b = 0; b < _nb; b++, s += _blockBytes)
            {
                byte* c = g + (long)b * _chunk;
                ((ushort*)c)[lane] = *(ushort*)s;
                byte* q;
                uint qh = 0;
                switch (_type)
                {
                    case GgmlType.Q4_1: ((ushort*)(c + _minOff))[lane] = ((ushort*)s)[1]; q = s + 4; break;
                    case GgmlType.Q5_0: qh = *(uint*)(s + 2); q = s + 6; break;
                    case GgmlType.Q5_1: ((ushort*)(c + _minOff))[lane] = ((ushort*)s)[1]; qh = *(uint*)(s + 4); q = s + 8; break;
                    default: q = s + 2; break;
                }
                int vectors = _type == GgmlType.Q8_0 ? 8 : 4;
                for (int v = 0; v < vectors; v++) *(uint*)(c + _qOff + 32 * v + 4 * lane) = *(uint*)(q + 4 * v);
                if (_type is GgmlType.Q5_0 or GgmlType.Q5_1)
                    for (int t = 0; t < 4; t++)
                    {
                        int bits = 0;
                        for (int st = 0; st < 8; st++) bits |= (int)((qh >> (4 * st + t)) & 1) << st;
                        c[_qhOff + 4 * lane + t] = (byte)bits;
                    }
            }
        }
    }

    public override void DequantizeRow(int row, Span<float> dst)
    {
        if ((uint)row >= (uint)Rows) throw new ArgumentOutOfRangeException(nameof(row));
        Prepare();
        byte* g = Data + (row / 8) * _groupStride;
        int lane = row % 8;
        byte* block = stackalloc byte[34];
        fixed (float* y = dst)
            for (int b = 0; b < _nb; b++)
            {
                GgufBlock(g + (long)b * _chunk, lane, block);
                BlockDequantizer.Row(_type, block, y + b * 32, 32);
            }
    }

    /// <summary>Rebuilds the GGUF block of one lane of a chunk (for dequantization and the scalar path).</summary>
    void GgufBlock(byte* c, int lane, byte* block)
    {
        *(ushort*)block = ((ushort*)c)[lane];
        byte* q;
        switch (_type)
        {
            case GgmlType.Q4_1: ((ushort*)block)[1] = ((ushort*)(c + _minOff))[lane]; q = block + 4; break;
            case GgmlType.Q5_0: q = block + 6; break;
            case GgmlType.Q5_1: ((ushort*)block)[1] = ((ushort*)(c + _minOff))[lane]; q = block + 8; break;
            default: q = block + 2; break;
        }
        int vectors = _type == GgmlType.Q8_0 ? 8 : 4;
        for (int v = 0; v < vectors; v++) *(uint*)(q + 4 * v) = *(uint*)(c + _qOff + 32 * v + 4 * lane);
        if (_type is GgmlType.Q5_0 or GgmlType.Q5_1)
        {
            uint qh = 0;
            for (int t = 0; t < 4; t++)
            {
                int bits = c[_qhOff + 4 * lane + t];
                for (int st = 0; st < 8; st++) qh |= (uint)((bits >> st) & 1) << (4 * st + t);
            }
            *(uint*)(q - 4) = qh;
        }
    }

    public override void Compute(in MatMulInput x, int n, float* y, int ldy, int r0, int r1)
    {
        Prepare();
        for (int r = r0; r < r1; r += 8)
        {
            byte* g = Data + (r / 8) * _groupStride;
            int valid = Math.Min(8, Rows - r);
            if (KernelPath == KernelPath.Vector128)
            {
                for (int i = 0; i < n; i++)
                    Interleaved8Vector128.DotBlock32(_type, g, _nb, _chunk, _minOff, _qhOff, _qOff, x.Quantized + (long)i * x.QuantizedStride, y + (long)i * ldy + r, valid);
                continue;
            }
            if (KernelPath == KernelPath.Scalar)
            {
                for (int i = 0; i < n; i++) ScalarDot8(g, x.Quantized + (long)i * x.QuantizedStride, y + (long)i * ldy + r, valid);
                continue;
            }
            int qs = x.QuantizedStride;
            int i0 = 0;
            for (; i0 + 4 <= n; i0 += 4) Dot<Inputs4>(g, x.Quantized + (long)i0 * qs, qs, y + (long)i0 * ldy + r, ldy, valid);
            switch (n - i0)
            {
                case 3: Dot<Inputs3>(g, x.Quantized + (long)i0 * qs, qs, y + (long)i0 * ldy + r, ldy, valid); break;
                case 2: Dot<Inputs2>(g, x.Quantized + (long)i0 * qs, qs, y + (long)i0 * ldy + r, ldy, valid); break;
                case 1: Dot<Inputs1>(g, x.Quantized + (long)i0 * qs, qs, y + (long)i0 * ldy + r, ldy, valid); break;
            }
        }
    }

    void Dot<N>(byte* g, byte* x, int xs, float* y, int ldy, int valid) where N : struct, IInputCount
    {
        switch (_type)
        {
            case GgmlType.Q8_0: DotQ8_0<N>(g, x, xs, y, ldy, valid); break;
            case GgmlType.Q4_0: DotQ4_0<N>(g, x, xs, y, ldy, valid); break;
            case GgmlType.Q4_1: DotQ4_1<N>(g, x, xs, y, ldy, valid); break;
            case GgmlType.Q5_0: DotQ5_0<N>(g, x, xs, y, ldy, valid); break;
            default: DotQ5_1<N>(g, x, xs, y, ldy, valid); break;
        }
    }

    /// <summary>Portable path: rebuilds each GGUF block and uses the reference dot.</summary>
    void ScalarDot8(byte* g, byte* xq, float* y, int valid)
    {
        byte* block = stackalloc byte[34];
        byte* xb = stackalloc byte[ActivationQuantizer.Q8Blocks32RowBytes(32)];
        sbyte* xqs = ActivationQuantizer.Q32Quants(xq);
        float* xd = ActivationQuantizer.Q32Scales(xq, _nb), xs = ActivationQuantizer.Q32Q81Sums(xq, _nb);
        int* xsum = ActivationQuantizer.Q32Sums(xq, _nb);
        for (int lane = 0; lane < valid; lane++)
        {
            float s = 0;
            for (int b = 0; b < _nb; b++)
            {
                GgufBlock(g + (long)b * _chunk, lane, block);
                Buffer.MemoryCopy(xqs + b * 32, xb, 32, 32);
                *ActivationQuantizer.Q32Scales(xb, 1) = xd[b];
                *ActivationQuantizer.Q32Sums(xb, 1) = xsum[b];
                *ActivationQuantizer.Q32Q81Sums(xb, 1) = xs[b];
                s += ReferenceDot.Dot(_type, block, xb, 32);
            }
            y[lane] = s;
        }
    }

    // ---- AVX2 kernels: 8 rows × N inputs ---------------------------------------------------------------

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    void DotQ8_0<N>(byte* g, byte* x0, int xs, float* y, int ldy, int valid) where N : struct, IInputCount
    {
        int nb = _nb;
        byte* x1 = x0 + xs, x2 = x1 + xs, x3 = x2 + xs;
        sbyte* q0 = (sbyte*)x0, q1 = (sbyte*)x1, q2 = (sbyte*)x2, q3 = (sbyte*)x3;
        float* d0 = ActivationQuantizer.Q32Scales(x0, nb), d1 = ActivationQuantizer.Q32Scales(x1, nb);
        float* d2 = ActivationQuantizer.Q32Scales(x2, nb), d3 = ActivationQuantizer.Q32Scales(x3, nb);
        Vector256<float> f0 = default, f1 = default, f2 = default, f3 = default;
        byte* c = g;
        for (int b = 0; b < nb; b++, c += 272, q0 += 32, q1 += 32, q2 += 32, q3 += 32)
        {
            if (N.Value == 1) Prefetch(c, 272);
            Vector256<int> t0 = default, t1 = default, t2 = default, t3 = default;
            sbyte* w = (sbyte*)(c + 16);
            Signed<N>(w, q0, q1, q2, q3, ref t0, ref t1, ref t2, ref t3);
            Signed<N>(w + 32, q0 + 4, q1 + 4, q2 + 4, q3 + 4, ref t0, ref t1, ref t2, ref t3);
            Signed<N>(w + 64, q0 + 8, q1 + 8, q2 + 8, q3 + 8, ref t0, ref t1, ref t2, ref t3);
            Signed<N>(w + 96, q0 + 12, q1 + 12, q2 + 12, q3 + 12, ref t0, ref t1, ref t2, ref t3);
            Signed<N>(w + 128, q0 + 16, q1 + 16, q2 + 16, q3 + 16, ref t0, ref t1, ref t2, ref t3);
            Signed<N>(w + 160, q0 + 20, q1 + 20, q2 + 20, q3 + 20, ref t0, ref t1, ref t2, ref t3);
            Signed<N>(w + 192, q0 + 24, q1 + 24, q2 + 24, q3 + 24, ref t0, ref t1, ref t2, ref t3);
            Signed<N>(w + 224, q0 + 28, q1 + 28, q2 + 28, q3 + 28, ref t0, ref t1, ref t2, ref t3);
            var d = HalfToFloat8(c);
            f0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(t0), d * Vector256.Create(d0[b]), f0);
            if (N.Value > 1) f1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(t1), d * Vector256.Create(d1[b]), f1);
            if (N.Value > 2) f2 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(t2), d * Vector256.Create(d2[b]), f2);
            if (N.Value > 3) f3 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(t3), d * Vector256.Create(d3[b]), f3);
        }
        Store(f0, y, valid);
        if (N.Value > 1) Store(f1, y + ldy, valid);
        if (N.Value > 2) Store(f2, y + 2 * ldy, valid);
        if (N.Value > 3) Store(f3, y + 3 * ldy, valid);
    }

    /// <summary>
    /// Q4_0, Q4_1, Q5_0, Q5_1: unsigned 4/5-bit quants straight into vpmaddubsw, summed in int16 (8 steps for 4-bit,
    /// 4 for 5-bit), then −8·Σx / −16·Σx per block (x_0 types) or + min · s_x (x_1 types). The fifth bit of step s is
    /// bit s of the plane vector, moved to bit 4 by a running shift.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    void DotQ4_0<N>(byte* g, byte* x, int xs, float* y, int ldy, int valid) where N : struct, IInputCount => DotU<N>(g, x, xs, y, ldy, valid, five: false, hasMin: false);
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    void DotQ4_1<N>(byte* g, byte* x, int xs, float* y, int ldy, int valid) where N : struct, IInputCount => DotU<N>(g, x, xs, y, ldy, valid, five: false, hasMin: true);
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    void DotQ5_0<N>(byte* g, byte* x, int xs, float* y, int ldy, int valid) where N : struct, IInputCount => DotU<N>(g, x, xs, y, ldy, valid, five: true, hasMin: false);
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    void DotQ5_1<N>(byte* g, byte* x, int xs, float* y, int ldy, int valid) where N : struct, IInputCount => DotU<N>(g, x, xs, y, ldy, valid, five: true, hasMin: true);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    void DotU<N>(byte* g, byte* x0, int xs, float* y, int ldy, int valid, bool five, bool hasMin) where N : struct, IInputCount
    {
        int nb = _nb, qOff = _qOff, qhOff = _qhOff, minOff = _minOff, chunk = _chunk, offsetShift = five ? 4 : 3;
        byte* x1 = x0 + xs, x2 = x1 + xs, x3 = x2 + xs;
        sbyte* q0 = (sbyte*)x0, q1 = (sbyte*)x1, q2 = (sbyte*)x2, q3 = (sbyte*)x3;
        float* d0 = ActivationQuantizer.Q32Scales(x0, nb), d1 = ActivationQuantizer.Q32Scales(x1, nb);
        float* d2 = ActivationQuantizer.Q32Scales(x2, nb), d3 = ActivationQuantizer.Q32Scales(x3, nb);
        int* i0 = ActivationQuantizer.Q32Sums(x0, nb), i1 = ActivationQuantizer.Q32Sums(x1, nb);
        int* i2 = ActivationQuantizer.Q32Sums(x2, nb), i3 = ActivationQuantizer.Q32Sums(x3, nb);
        float* s0 = ActivationQuantizer.Q32Q81Sums(x0, nb), s1 = ActivationQuantizer.Q32Q81Sums(x1, nb);
        float* s2 = ActivationQuantizer.Q32Q81Sums(x2, nb), s3 = ActivationQuantizer.Q32Q81Sums(x3, nb);
        Vector256<float> f0 = default, f1 = default, f2 = default, f3 = default;
        byte* c = g;
        for (int b = 0; b < nb; b++, c += chunk, q0 += 32, q1 += 32, q2 += 32, q3 += 32)
        {
            if (N.Value == 1) Prefetch(c, chunk);
            Vector256<short> a0 = default, a1 = default, a2 = default, a3 = default;
            Vector256<int> t0, t1 = default, t2 = default, t3 = default;
            byte* w = c + qOff;
            if (five)
            {
                var h = Vector256.Load(c + qhOff).AsUInt16();
                Fives4<N>(w, false, h, false, q0, q1, q2, q3, ref a0, ref a1, ref a2, ref a3);
                t0 = MaddSum(a0); a0 = default;
                if (N.Value > 1) { t1 = MaddSum(a1); a1 = default; }
                if (N.Value > 2) { t2 = MaddSum(a2); a2 = default; }
                if (N.Value > 3) { t3 = MaddSum(a3); a3 = default; }
                Fives4<N>(w, true, h, true, q0 + 16, q1 + 16, q2 + 16, q3 + 16, ref a0, ref a1, ref a2, ref a3);
                t0 = Avx2.Add(t0, MaddSum(a0));
                if (N.Value > 1) t1 = Avx2.Add(t1, MaddSum(a1));
                if (N.Value > 2) t2 = Avx2.Add(t2, MaddSum(a2));
                if (N.Value > 3) t3 = Avx2.Add(t3, MaddSum(a3));
            }
            else
            {
                Nibbles4<N>(w, false, q0, q1, q2, q3, ref a0, ref a1, ref a2, ref a3);
                Nibbles4<N>(w, true, q0 + 16, q1 + 16, q2 + 16, q3 + 16, ref a0, ref a1, ref a2, ref a3);
                t0 = MaddSum(a0);
                if (N.Value > 1) t1 = MaddSum(a1);
                if (N.Value > 2) t2 = MaddSum(a2);
                if (N.Value > 3) t3 = MaddSum(a3);
            }
            var d = HalfToFloat8(c);
            if (hasMin)
            {
                var m = HalfToFloat8(c + minOff);
                f0 = Fma.MultiplyAdd(m, Vector256.Create(s0[b]), Fma.MultiplyAdd(Avx.ConvertToVector256Single(t0), d * Vector256.Create(d0[b]), f0));
                if (N.Value > 1) f1 = Fma.MultiplyAdd(m, Vector256.Create(s1[b]), Fma.MultiplyAdd(Avx.ConvertToVector256Single(t1), d * Vector256.Create(d1[b]), f1));
                if (N.Value > 2) f2 = Fma.MultiplyAdd(m, Vector256.Create(s2[b]), Fma.MultiplyAdd(Avx.ConvertToVector256Single(t2), d * Vector256.Create(d2[b]), f2));
                if (N.Value > 3) f3 = Fma.MultiplyAdd(m, Vector256.Create(s3[b]), Fma.MultiplyAdd(Avx.ConvertToVector256Single(t3), d * Vector256.Create(d3[b]), f3));
            }
            else
            {
                f0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Avx2.Subtract(t0, Vector256.Create(i0[b] << offsetShift))), d * Vector256.Create(d0[b]), f0);
                if (N.Value > 1) f1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Avx2.Subtract(t1, Vector256.Create(i1[b] << offsetShift))), d * Vector256.Create(d1[b]), f1);
                if (N.Value > 2) f2 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Avx2.Subtract(t2, Vector256.Create(i2[b] << offsetShift))), d * Vector256.Create(d2[b]), f2);
                if (N.Value > 3) f3 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Avx2.Subtract(t3, Vector256.Create(i3[b] << offsetShift))), d * Vector256.Create(d3[b]), f3);
            }
        }
        Store(f0, y, valid);
        if (N.Value > 1) Store(f1, y + ldy, valid);
        if (N.Value > 2) Store(f2, y + 2 * ldy, valid);
        if (N.Value > 3) Store(f3, y + 3 * ldy, valid);
    }
}
