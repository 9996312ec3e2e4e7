using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using QwenSharp.Tensors.Quantization;

namespace QwenSharp.Tensors;

/// <summary>
/// A matrix in one of ggml's 32-element block types (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1), repacked at load
/// into a 4-row-interleaved layout: for each group of 4 rows and each block b, one chunk
/// [4 fp16 scales][4 fp16 mins (Q4_1, Q5_1)][4 × u32 high bits (Q5_0, Q5_1)][4 × the block's quant bytes].
/// One sequential stream per row group, and every activation load serves 4 rows. The products use
/// int8 activations (<see cref="InputFormat.Q8Blocks32"/>) and integer dot products, as llama.cpp does.
/// Rows past the last multiple of 4 are padded with zero blocks.
/// </summary>
public sealed unsafe class Block32Matrix : Matrix, IDisposable
{
    readonly GgmlType _type;
    byte* _data;
    readonly int _nb;          // blocks per row
    readonly int _chunk;       // bytes per (row group, block)
    readonly int _qBytes;      // quant bytes per row-block (32 or 16)
    readonly int _minOff, _qhOff, _qOff;
    readonly long _groupStride;

    public override GgmlType Type => _type;
    public override bool OwnsMemory => true;
    public override long ByteSize => (long)Rows * _nb * GgmlTypeInfo.Layout(_type).TypeSize;
    public override InputFormat InputFormat => InputFormat.Q8Blocks32;
    public override int QuantizedInputRowBytes => ActivationQuantizer.Q8Blocks32RowBytes(Cols);
    public override void QuantizeInputRow(float* x, byte* dst) => ActivationQuantizer.QuantizeBlocks32(x, Cols, dst);

    public static bool Handles(GgmlType t) => t is GgmlType.Q8_0 or GgmlType.Q4_0 or GgmlType.Q4_1 or GgmlType.Q5_0 or GgmlType.Q5_1;

    /// <summary>Repacks <paramref name="rows"/> GGUF rows at <paramref name="src"/> into native memory.</summary>
    public Block32Matrix(GgmlType type, byte* src, int rows, int cols) : base(rows, cols)
    {
        if (!Handles(type)) throw new ArgumentException($"{type} is not a 32-block type", nameof(type));
        if (cols % 32 != 0) throw new ArgumentException($"{type} rows must be a multiple of 32 elements, got {cols}", nameof(cols));
        _type = type;
        _nb = cols / 32;
        bool hasMin = type is GgmlType.Q4_1 or GgmlType.Q5_1, hasQh = type is GgmlType.Q5_0 or GgmlType.Q5_1;
        _qBytes = type == GgmlType.Q8_0 ? 32 : 16;
        _minOff = 8;
        _qhOff = 8 + (hasMin ? 8 : 0);
        _qOff = _qhOff + (hasQh ? 16 : 0);
        _chunk = _qOff + 4 * _qBytes;
        _groupStride = (long)_nb * _chunk;
        long groups = (rows + 3) / 4;
        _data = (byte*)NativeMemoryHelper.AllocWeights(groups * _groupStride);
        NativeMemoryHelper.Clear(_data, groups * _groupStride);
        int blockBytes = GgmlTypeInfo.Layout(type).TypeSize;
        long rowBytes = (long)_nb * blockBytes;
        for (int r = 0; r < rows; r++)
        {
            byte* s = src + r * rowBytes;
            byte* g = _data + (r / 4) * _groupStride;
            int lane = r % 4;
            for (int b = 0; b < _nb; b++, s += blockBytes)
            {
                byte* c = g + (long)b * _chunk;
                ((ushort*)c)[lane] = *(ushort*)s;
                byte* q;
                switch (type)
                {
                    case GgmlType.Q4_1: ((ushort*)(c + _minOff))[lane] = ((ushort*)s)[1]; q = s + 4; break;
                    case GgmlType.Q5_0: ((uint*)(c + _qhOff))[lane] = *(uint*)(s + 2); q = s + 6; break;
                    case GgmlType.Q5_1: ((ushort*)(c + _minOff))[lane] = ((ushort*)s)[1]; ((uint*)(c + _qhOff))[lane] = *(uint*)(s + 4); q = s + 8; break;
                    default: q = s + 2; break;
                }
                Buffer.MemoryCopy(q, c + _qOff + lane * _qBytes, _qBytes, _qBytes);
            }
        }
    }

    public override void DequantizeRow(int row, Span<float> dst)
    {
        if ((uint)row >= (uint)Rows) throw new ArgumentOutOfRangeException(nameof(row));
        byte* g = _data + (row / 4) * _groupStride;
        int lane = row % 4;
        byte* block = stackalloc byte[34];
        int blockBytes = GgmlTypeInfo.Layout(_type).TypeSize;
        fixed (float* y = dst)
            for (int b = 0; b < _nb; b++)
            {
                GgufBlock(g + (long)b * _chunk, lane, block);
                BlockDequantizer.Row(_type, block, y + b * 32, 32);
            }
    }

    /// <summary>Rebuilds the GGUF block of one lane of a chunk (for dequantization and tests).</summary>
    void GgufBlock(byte* c, int lane, byte* block)
    {
        *(ushort*)block = ((ushort*)c)[lane];
        byte* q;
        switch (_type)
        {
            case GgmlType.Q4_1: ((ushort*)block)[1] = ((ushort*)(c + _minOff))[lane]; q = block + 4; break;
            case GgmlType.Q5_0: *(uint*)(block + 2) = ((uint*)(c + _qhOff))[lane]; q = block + 6; break;
            case GgmlType.Q5_1: ((ushort*)block)[1] = ((ushort*)(c + _minOff))[lane]; *(uint*)(block + 4) = ((uint*)(c + _qhOff))[lane]; q = block + 8; break;
            default: q = block + 2; break;
        }
        Buffer.MemoryCopy(c + _qOff + lane * _qBytes, q, _qBytes, _qBytes);
    }

    public override void Compute(in MatMulInput x, int n, float* y, int ldy, int r0, int r1)
    {
        float* out4 = stackalloc float[8];
        for (int r = r0; r < r1; r += 4)
        {
            byte* g = _data + (r / 4) * _groupStride;
            int valid = Math.Min(4, Rows - r);
            int i = 0;
            if (Avx2.IsSupported)
            {
                // Batches (prefill): 4 rows × 2 inputs per pass, each weight vector loaded once for both inputs.
                for (; i + 2 <= n; i += 2)
                {
                    byte* xa = x.Quantized + (long)i * x.QuantizedStride;
                    var acc = _type == GgmlType.Q8_0 ? DotQ8_0x2(g, xa, xa + x.QuantizedStride) : DotU8x2(g, xa, xa + x.QuantizedStride);
                    acc.Store(out4);
                    float* ya = y + (long)i * ldy + r, yb = ya + ldy;
                    for (int k = 0; k < valid; k++) { ya[k] = out4[k]; yb[k] = out4[4 + k]; }
                }
            }
            for (; i < n; i++)
            {
                byte* xq = x.Quantized + (long)i * x.QuantizedStride;
                if (Avx2.IsSupported)
                {
                    Vector128<float> acc = _type switch
                    {
                        GgmlType.Q8_0 => DotQ8_0(g, xq),
                        GgmlType.Q4_0 => DotQ4(g, xq, hasMin: false),
                        GgmlType.Q4_1 => DotQ4(g, xq, hasMin: true),
                        GgmlType.Q5_0 => DotQ5(g, xq, hasMin: false),
                        _ => DotQ5(g, xq, hasMin: true),
                    };
                    acc.Store(out4);
                }
                else ScalarDot4(g, xq, out4);
                float* yi = y + (long)i * ldy + r;
                for (int k = 0; k < valid; k++) yi[k] = out4[k];
            }
        }
    }

    /// <summary>Portable path: rebuilds each GGUF block and uses the reference dot.</summary>
    void ScalarDot4(byte* g, byte* xq, float* out4)
    {
        // Dot of a single block: emulate by running the reference dot over one-block "rows".
        int blockBytes = GgmlTypeInfo.Layout(_type).TypeSize;
        byte* block = stackalloc byte[34];
        byte* xb = stackalloc byte[ActivationQuantizer.Q8Blocks32RowBytes(32)];
        sbyte* xqs = ActivationQuantizer.Q32Quants(xq);
        float* xd = ActivationQuantizer.Q32Scales(xq, _nb), xs = ActivationQuantizer.Q32Q81Sums(xq, _nb);
        int* xsum = ActivationQuantizer.Q32Sums(xq, _nb);
        for (int lane = 0; lane < 4; lane++)
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
            out4[lane] = s;
        }
    }

    // ---- AVX2 kernels --------------------------------------------------------------------------------

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector128<float> HalfToFloat4(byte* p)
    {
        var h = Sse41.ConvertToVector128Int32(Vector128.CreateScalar(*(ulong*)p).AsUInt16()).AsUInt32();
        var em = Sse2.ShiftLeftLogical(h & Vector128.Create(0x7fffu), 13);
        var f = em.AsSingle() * Vector128.Create(5.192296858534828e+33f);
        var sign = Sse2.ShiftLeftLogical(h & Vector128.Create(0x8000u), 16);
        return (f.AsUInt32() | sign).AsSingle();
    }

    /// <summary>Sums each of 4 int32x8 vectors into one lane of an int32x4.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector128<int> Reduce4(Vector256<int> a, Vector256<int> b, Vector256<int> c, Vector256<int> d)
    {
        var t = Avx2.HorizontalAdd(Avx2.HorizontalAdd(a, b), Avx2.HorizontalAdd(c, d));
        return Sse2.Add(t.GetLower(), t.GetUpper());
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<int> DotI8(Vector256<sbyte> w, Vector256<sbyte> x)
    {
        var ax = Avx2.Abs(w);
        var sx = Avx2.Sign(x, w);
        return Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(ax, sx), Vector256<short>.One);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<int> DotU8(Vector256<byte> u, Vector256<sbyte> x) =>
        Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(u, x), Vector256<short>.One);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<byte> Nibbles(byte* p)
    {
        var t = Vector128.Load(p);
        var v = Vector256.Create(t, Sse2.ShiftRightLogical(t.AsUInt16(), 4).AsByte());
        return v & Vector256.Create((byte)0x0F);
    }

    /// <summary>32 bits to 32 bytes: 0x10 where the bit is set (the fifth bit of Q5 quants).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<byte> HighBits(uint bits)
    {
        var v = Vector256.Create(bits).AsByte();
        v = Avx2.Shuffle(v, Vector256.Create(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3).AsByte());
        var bit = Vector256.Create(0x8040201008040201UL).AsByte();
        return Avx2.CompareEqual(v & bit, bit) & Vector256.Create((byte)0x10);
    }

    /// <summary>Sums 4 rows × 2 inputs of int32x8 dots into [input a: rows 0-3 | input b: rows 0-3].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<int> Reduce8(Vector256<int> a0, Vector256<int> a1, Vector256<int> a2, Vector256<int> a3,
                                  Vector256<int> b0, Vector256<int> b1, Vector256<int> b2, Vector256<int> b3)
    {
        var t = Avx2.HorizontalAdd(Avx2.HorizontalAdd(a0, a1), Avx2.HorizontalAdd(a2, a3));
        var u = Avx2.HorizontalAdd(Avx2.HorizontalAdd(b0, b1), Avx2.HorizontalAdd(b2, b3));
        return Avx2.Add(Avx2.Permute2x128(t, u, 0x20), Avx2.Permute2x128(t, u, 0x31));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> Pair(float a, float b) => Vector256.Create(Vector128.Create(a), Vector128.Create(b));

    Vector256<float> DotQ8_0x2(byte* g, byte* xa, byte* xb)
    {
        sbyte* qa = ActivationQuantizer.Q32Quants(xa), qb = ActivationQuantizer.Q32Quants(xb);
        float* da = ActivationQuantizer.Q32Scales(xa, _nb), db = ActivationQuantizer.Q32Scales(xb, _nb);
        var acc = Vector256<float>.Zero;
        byte* c = g;
        for (int b = 0; b < _nb; b++, c += _chunk)
        {
            var va = Vector256.Load(qa + b * 32);
            var vb = Vector256.Load(qb + b * 32);
            sbyte* q = (sbyte*)(c + _qOff);
            var w0 = Vector256.Load(q); var w1 = Vector256.Load(q + 32); var w2 = Vector256.Load(q + 64); var w3 = Vector256.Load(q + 96);
            var a0 = Avx2.Abs(w0); var a1 = Avx2.Abs(w1); var a2 = Avx2.Abs(w2); var a3 = Avx2.Abs(w3);
            var one = Vector256<short>.One;
            var sum = Reduce8(
                Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(a0, Avx2.Sign(va, w0)), one),
                Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(a1, Avx2.Sign(va, w1)), one),
                Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(a2, Avx2.Sign(va, w2)), one),
                Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(a3, Avx2.Sign(va, w3)), one),
                Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(a0, Avx2.Sign(vb, w0)), one),
                Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(a1, Avx2.Sign(vb, w1)), one),
                Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(a2, Avx2.Sign(vb, w2)), one),
                Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(a3, Avx2.Sign(vb, w3)), one));
            var dw = HalfToFloat4(c);
            acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(sum), Vector256.Create(dw, dw) * Pair(da[b], db[b]), acc);
        }
        return acc;
    }

    /// <summary>4 rows × 2 inputs for the unsigned-quant types (Q4_0, Q4_1, Q5_0, Q5_1).</summary>
    Vector256<float> DotU8x2(byte* g, byte* xa, byte* xb)
    {
        sbyte* qa = ActivationQuantizer.Q32Quants(xa), qb = ActivationQuantizer.Q32Quants(xb);
        float* da = ActivationQuantizer.Q32Scales(xa, _nb), db = ActivationQuantizer.Q32Scales(xb, _nb);
        float* sa = ActivationQuantizer.Q32Q81Sums(xa, _nb), sb = ActivationQuantizer.Q32Q81Sums(xb, _nb);
        int* ia = ActivationQuantizer.Q32Sums(xa, _nb), ib = ActivationQuantizer.Q32Sums(xb, _nb);
        bool hasMin = _type is GgmlType.Q4_1 or GgmlType.Q5_1, hasQh = _type is GgmlType.Q5_0 or GgmlType.Q5_1;
        int offset = _type == GgmlType.Q4_0 ? 8 : _type == GgmlType.Q5_0 ? 16 : 0;
        var acc = Vector256<float>.Zero;
        var accMin = Vector256<float>.Zero;
        byte* c = g;
        for (int b = 0; b < _nb; b++, c += _chunk)
        {
            var va = Vector256.Load(qa + b * 32);
            var vb = Vector256.Load(qb + b * 32);
            byte* q = c + _qOff;
            Vector256<byte> w0 = Nibbles(q), w1 = Nibbles(q + 16), w2 = Nibbles(q + 32), w3 = Nibbles(q + 48);
            if (hasQh)
            {
                uint* qh = (uint*)(c + _qhOff);
                w0 |= HighBits(qh[0]); w1 |= HighBits(qh[1]); w2 |= HighBits(qh[2]); w3 |= HighBits(qh[3]);
            }
            var sum = Reduce8(DotU8(w0, va), DotU8(w1, va), DotU8(w2, va), DotU8(w3, va),
                              DotU8(w0, vb), DotU8(w1, vb), DotU8(w2, vb), DotU8(w3, vb));
            var dw = HalfToFloat4(c);
            if (hasMin)
            {
                acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(sum), Vector256.Create(dw, dw) * Pair(da[b], db[b]), acc);
                var mw = HalfToFloat4(c + _minOff);
                accMin = Fma.MultiplyAdd(Vector256.Create(mw, mw), Pair(sa[b], sb[b]), accMin);
            }
            else
            {
                sum = Avx2.Subtract(sum, Vector256.Create(Vector128.Create(ia[b] * offset), Vector128.Create(ib[b] * offset)));
                acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(sum), Vector256.Create(dw, dw) * Pair(da[b], db[b]), acc);
            }
        }
        return acc + accMin;
    }

    Vector128<float> DotQ8_0(byte* g, byte* x)
    {
        sbyte* xq = ActivationQuantizer.Q32Quants(x);
        float* xd = ActivationQuantizer.Q32Scales(x, _nb);
        var acc = Vector128<float>.Zero;
        byte* c = g;
        for (int b = 0; b < _nb; b++, c += _chunk)
        {
            var xv = Vector256.Load(xq + b * 32);
            byte* q = c + _qOff;
            var d0 = DotI8(Vector256.Load((sbyte*)q), xv);
            var d1 = DotI8(Vector256.Load((sbyte*)(q + 32)), xv);
            var d2 = DotI8(Vector256.Load((sbyte*)(q + 64)), xv);
            var d3 = DotI8(Vector256.Load((sbyte*)(q + 96)), xv);
            var s = Sse2.ConvertToVector128Single(Reduce4(d0, d1, d2, d3));
            acc = Fma.MultiplyAdd(s, HalfToFloat4(c) * Vector128.Create(xd[b]), acc);
        }
        return acc;
    }

    Vector128<float> DotQ4(byte* g, byte* x, bool hasMin)
    {
        sbyte* xq = ActivationQuantizer.Q32Quants(x);
        float* xd = ActivationQuantizer.Q32Scales(x, _nb), xs = ActivationQuantizer.Q32Q81Sums(x, _nb);
        int* xsum = ActivationQuantizer.Q32Sums(x, _nb);
        var acc = Vector128<float>.Zero;
        var accMin = Vector128<float>.Zero;
        byte* c = g;
        for (int b = 0; b < _nb; b++, c += _chunk)
        {
            var xv = Vector256.Load(xq + b * 32);
            byte* q = c + _qOff;
            var d0 = DotU8(Nibbles(q), xv);
            var d1 = DotU8(Nibbles(q + 16), xv);
            var d2 = DotU8(Nibbles(q + 32), xv);
            var d3 = DotU8(Nibbles(q + 48), xv);
            var sum = Reduce4(d0, d1, d2, d3);
            if (hasMin)
            {
                acc = Fma.MultiplyAdd(Sse2.ConvertToVector128Single(sum), HalfToFloat4(c) * Vector128.Create(xd[b]), acc);
                accMin = Fma.MultiplyAdd(HalfToFloat4(c + _minOff), Vector128.Create(xs[b]), accMin);
            }
            else
            {
                sum = Sse2.Subtract(sum, Vector128.Create(xsum[b] * 8));
                acc = Fma.MultiplyAdd(Sse2.ConvertToVector128Single(sum), HalfToFloat4(c) * Vector128.Create(xd[b]), acc);
            }
        }
        return acc + accMin;
    }

    Vector128<float> DotQ5(byte* g, byte* x, bool hasMin)
    {
        sbyte* xq = ActivationQuantizer.Q32Quants(x);
        float* xd = ActivationQuantizer.Q32Scales(x, _nb), xs = ActivationQuantizer.Q32Q81Sums(x, _nb);
        int* xsum = ActivationQuantizer.Q32Sums(x, _nb);
        var acc = Vector128<float>.Zero;
        var accMin = Vector128<float>.Zero;
        byte* c = g;
        for (int b = 0; b < _nb; b++, c += _chunk)
        {
            var xv = Vector256.Load(xq + b * 32);
            byte* q = c + _qOff;
            uint* qh = (uint*)(c + _qhOff);
            var d0 = DotU8(Nibbles(q) | HighBits(qh[0]), xv);
            var d1 = DotU8(Nibbles(q + 16) | HighBits(qh[1]), xv);
            var d2 = DotU8(Nibbles(q + 32) | HighBits(qh[2]), xv);
            var d3 = DotU8(Nibbles(q + 48) | HighBits(qh[3]), xv);
            var sum = Reduce4(d0, d1, d2, d3);
            if (hasMin)
            {
                acc = Fma.MultiplyAdd(Sse2.ConvertToVector128Single(sum), HalfToFloat4(c) * Vector128.Create(xd[b]), acc);
                accMin = Fma.MultiplyAdd(HalfToFloat4(c + _minOff), Vector128.Create(xs[b]), accMin);
            }
            else
            {
                sum = Sse2.Subtract(sum, Vector128.Create(xsum[b] * 16));
                acc = Fma.MultiplyAdd(Sse2.ConvertToVector128Single(sum), HalfToFloat4(c) * Vector128.Create(xd[b]), acc);
            }
        }
        return acc + accMin;
    }

    public void Dispose()
    {
        if (_data != null) NativeMemoryHelper.FreeWeights(_data);
        _data = null;
    }
}
