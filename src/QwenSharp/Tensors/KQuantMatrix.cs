using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using QwenSharp.Tensors.Quantization;

namespace QwenSharp.Tensors;

/// <summary>
/// A matrix in one of ggml's 256-element super-block types (Q4_K, Q5_K, Q6_K), computed on the GGUF
/// blocks where they lie (memory-mapped), against int8 activations in ggml's Q8_K form
/// (<see cref="InputFormat.Q8Blocks256"/>): integer dot products per 32 (Q4_K/Q5_K) or 16 (Q6_K)
/// elements, weighted by the 6/8-bit sub-block scales in integers, one float multiply per super-block.
/// </summary>
public sealed unsafe class KQuantMatrix : Matrix, IDisposable
{
    readonly GgmlType _type;
    byte* _data;
    readonly bool _owns;
    readonly int _nb;
    readonly int _blockBytes;
    readonly long _rowBytes;

    public static bool Handles(GgmlType t) => t is GgmlType.Q4_K or GgmlType.Q5_K or GgmlType.Q6_K;

    /// <summary>A view of rows×cols GGUF blocks at data; with ownsMemory, data came from <see cref="NativeMemoryHelper.AllocWeights"/> and this matrix frees it.</summary>
    public KQuantMatrix(GgmlType type, byte* data, int rows, int cols, bool ownsMemory = false) : base(rows, cols)
    {
        _owns = ownsMemory;
        if (!Handles(type)) throw new ArgumentException($"{type} is not a K-quant type", nameof(type));
        if (cols % 256 != 0) throw new ArgumentException($"{type} rows must be a multiple of 256 elements, got {cols}", nameof(cols));
        _type = type;
        _data = data;
        _nb = cols / 256;
        _blockBytes = GgmlTypeInfo.Layout(type).TypeSize;
        _rowBytes = (long)_nb * _blockBytes;
    }

    public override GgmlType Type => _type;
    public override bool OwnsMemory => _owns;

    public void Dispose()
    {
        if (_owns && _data != null) NativeMemoryHelper.FreeWeights(_data);
        _data = null;
    }
    public override long ByteSize => _rowBytes * Rows;
    public override InputFormat InputFormat => InputFormat.Q8Blocks256;
    public override int QuantizedInputRowBytes => ActivationQuantizer.Q8Blocks256RowBytes(Cols);
    public override void QuantizeInputRow(float* x, byte* dst) => ActivationQuantizer.QuantizeBlocks256(x, Cols, dst);

    public override void DequantizeRow(int row, Span<float> dst)
    {
        if ((uint)row >= (uint)Rows) throw new ArgumentOutOfRangeException(nameof(row));
        fixed (float* y = dst) BlockDequantizer.Row(_type, _data + row * _rowBytes, y, Cols);
    }

    public override void Compute(in MatMulInput x, int n, float* y, int ldy, int r0, int r1)
    {
        // Batches (prefill): one row against 4 inputs at a time, so each unpacked weight vector serves 4 inputs.
        int i0 = 0;
        if (Avx2.IsSupported && _type != GgmlType.Q5_K && n >= 4)
        {
            float* out4 = stackalloc float[4];
            for (; i0 + 4 <= n; i0 += 4)
            {
                byte* x0 = x.Quantized + (long)i0 * x.QuantizedStride;
                int qs = x.QuantizedStride;
                for (int r = r0; r < r1; r++)
                {
                    byte* w = _data + r * _rowBytes;
                    if (_type == GgmlType.Q4_K) DotQ4K4(w, x0, qs, _nb, out4); else DotQ6K4(w, x0, qs, _nb, out4);
                    for (int k = 0; k < 4; k++) y[(long)(i0 + k) * ldy + r] = out4[k];
                }
            }
        }
        for (int r = r0; r < r1; r++)
        {
            byte* w = _data + r * _rowBytes;
            for (int i = i0; i < n; i++)
            {
                byte* xq = x.Quantized + (long)i * x.QuantizedStride;
                float v;
                if (Avx2.IsSupported)
                    v = _type switch
                    {
                        GgmlType.Q4_K => DotQ4K(w, xq, _nb),
                        GgmlType.Q5_K => DotQ5K(w, xq, _nb),
                        _ => DotQ6K(w, xq, _nb),
                    };
                else v = ReferenceDot.Dot(_type, w, xq, Cols);
                y[(long)i * ldy + r] = v;
            }
        }
    }

    static float H(byte* p) => Numerics.HalfToFloat(*(ushort*)p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static float HSum(Vector256<float> v)
    {
        var s = Sse.Add(v.GetLower(), v.GetUpper());
        s = Sse.Add(s, Sse.MoveHighToLow(s, s));
        s = Sse.AddScalar(s, Sse.Shuffle(s, s, 1));
        return s.ToScalar();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static int HSum(Vector128<int> v)
    {
        v = Sse2.Add(v, Sse2.Shuffle(v, 0b01_00_11_10));
        v = Sse2.Add(v, Sse2.Shuffle(v, 0b10_11_00_01));
        return v.ToScalar();
    }

    /// <summary>Unpacks the 12 scale bytes of a Q4_K/Q5_K super-block: 8 scales (bytes 0..7) and 8 mins (bytes 8..15).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector128<byte> UnpackScalesMins(byte* s)
    {
        uint u0 = *(uint*)s, u1 = *(uint*)(s + 4), u2 = *(uint*)(s + 8);
        uint sc0 = u0 & 0x3f3f3f3f;
        uint sc1 = (u2 & 0x0f0f0f0f) | (((u0 >> 6) & 0x03030303) << 4);
        uint m0 = u1 & 0x3f3f3f3f;
        uint m1 = ((u2 >> 4) & 0x0f0f0f0f) | (((u1 >> 6) & 0x03030303) << 4);
        return Vector128.Create(sc0, sc1, m0, m1).AsByte();
    }

    /// <summary>Σ_j mins_j · (bsum_2j + bsum_2j+1) for one super-block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static int MinsDot(Vector128<byte> scalesMins, short* bsums)
    {
        var pair = Ssse3.HorizontalAdd(Vector128.Load(bsums), Vector128.Load(bsums + 8));
        var mins = Sse41.ConvertToVector128Int16(Sse2.ShiftRightLogical128BitLane(scalesMins, 8));
        return HSum(Sse2.MultiplyAddAdjacent(pair, mins));
    }

    static float DotQ4K(byte* w, byte* x, int nb)
    {
        short* sc16 = stackalloc short[8];
        sbyte* xq = ActivationQuantizer.Q256Quants(x);
        float* xd = ActivationQuantizer.Q256Scales(x, nb);
        short* bs = ActivationQuantizer.Q256BlockSums(x, nb);
        var acc = Vector256<float>.Zero;
        float accMin = 0;
        var low = Vector256.Create((byte)0x0F);
        for (int b = 0; b < nb; b++, w += 144)
        {
            var sm = UnpackScalesMins(w + 4);
            float dx = xd[b];
            accMin += H(w + 2) * dx * MinsDot(sm, bs + b * 16);
            Sse41.ConvertToVector128Int16(sm).Store(sc16); // 8 scales as int16, broadcast from memory below
            var sumi = Vector256<int>.Zero;
            byte* q = w + 16;
            sbyte* xb = xq + b * 256;
            for (int j = 0; j < 4; j++, q += 32, xb += 64)
            {
                var qv = Vector256.Load(q);
                var lo = qv & low;
                var hi = Avx2.ShiftRightLogical(qv.AsUInt16(), 4).AsByte() & low;
                var plo = Avx2.MultiplyAddAdjacent(lo, Vector256.Load(xb));
                var phi = Avx2.MultiplyAddAdjacent(hi, Vector256.Load(xb + 32));
                sumi = Avx2.Add(sumi, Avx2.MultiplyAddAdjacent(plo, Avx2.BroadcastScalarToVector256(sc16 + 2 * j)));
                sumi = Avx2.Add(sumi, Avx2.MultiplyAddAdjacent(phi, Avx2.BroadcastScalarToVector256(sc16 + 2 * j + 1)));
            }
            acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(sumi), Vector256.Create(H(w) * dx), acc);
        }
        return HSum(acc) - accMin;
    }

    /// <summary>One Q4_K row against 4 consecutive activation rows (stride qs bytes).</summary>
    static void DotQ4K4(byte* w, byte* x, int qs, int nb, float* out4)
    {
        short* sc16 = stackalloc short[8];
        var acc0 = Vector256<float>.Zero; var acc1 = Vector256<float>.Zero; var acc2 = Vector256<float>.Zero; var acc3 = Vector256<float>.Zero;
        float m0 = 0, m1 = 0, m2 = 0, m3 = 0;
        var low = Vector256.Create((byte)0x0F);
        byte* xa = x, xb = x + qs, xc = x + 2 * qs, xe = x + 3 * qs;
        for (int b = 0; b < nb; b++, w += 144)
        {
            var sm = UnpackScalesMins(w + 4);
            float dmin = H(w + 2), d = H(w);
            float da = ActivationQuantizer.Q256Scales(xa, nb)[b], db = ActivationQuantizer.Q256Scales(xb, nb)[b];
            float dc = ActivationQuantizer.Q256Scales(xc, nb)[b], de = ActivationQuantizer.Q256Scales(xe, nb)[b];
            m0 += dmin * da * MinsDot(sm, ActivationQuantizer.Q256BlockSums(xa, nb) + b * 16);
            m1 += dmin * db * MinsDot(sm, ActivationQuantizer.Q256BlockSums(xb, nb) + b * 16);
            m2 += dmin * dc * MinsDot(sm, ActivationQuantizer.Q256BlockSums(xc, nb) + b * 16);
            m3 += dmin * de * MinsDot(sm, ActivationQuantizer.Q256BlockSums(xe, nb) + b * 16);
            Sse41.ConvertToVector128Int16(sm).Store(sc16);
            Vector256<int> s0 = default, s1 = default, s2 = default, s3 = default;
            byte* q = w + 16;
            long o = (long)b * 256;
            for (int j = 0; j < 4; j++, q += 32, o += 64)
            {
                var qv = Vector256.Load(q);
                var lo = qv & low;
                var hi = Avx2.ShiftRightLogical(qv.AsUInt16(), 4).AsByte() & low;
                var sl = Avx2.BroadcastScalarToVector256(sc16 + 2 * j);
                var sh = Avx2.BroadcastScalarToVector256(sc16 + 2 * j + 1);
                s0 = Avx2.Add(s0, Avx2.Add(Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(lo, Vector256.Load((sbyte*)xa + o)), sl),
                                           Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(hi, Vector256.Load((sbyte*)xa + o + 32)), sh)));
                s1 = Avx2.Add(s1, Avx2.Add(Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(lo, Vector256.Load((sbyte*)xb + o)), sl),
                                           Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(hi, Vector256.Load((sbyte*)xb + o + 32)), sh)));
                s2 = Avx2.Add(s2, Avx2.Add(Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(lo, Vector256.Load((sbyte*)xc + o)), sl),
                                           Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(hi, Vector256.Load((sbyte*)xc + o + 32)), sh)));
                s3 = Avx2.Add(s3, Avx2.Add(Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(lo, Vector256.Load((sbyte*)xe + o)), sl),
                                           Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(hi, Vector256.Load((sbyte*)xe + o + 32)), sh)));
            }
            acc0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(s0), Vector256.Create(d * da), acc0);
            acc1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(s1), Vector256.Create(d * db), acc1);
            acc2 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(s2), Vector256.Create(d * dc), acc2);
            acc3 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(s3), Vector256.Create(d * de), acc3);
        }
        out4[0] = HSum(acc0) - m0; out4[1] = HSum(acc1) - m1; out4[2] = HSum(acc2) - m2; out4[3] = HSum(acc3) - m3;
    }

    /// <summary>One Q6_K row against 4 consecutive activation rows (stride qs bytes).</summary>
    static void DotQ6K4(byte* w, byte* x, int qs, int nb, float* out4)
    {
        var acc0 = Vector256<float>.Zero; var acc1 = Vector256<float>.Zero; var acc2 = Vector256<float>.Zero; var acc3 = Vector256<float>.Zero;
        var low = Vector256.Create((byte)0x0F);
        var three = Vector256.Create((byte)0x03);
        byte* xa = x, xb = x + qs, xc = x + 2 * qs, xe = x + 3 * qs;
        var q4 = stackalloc Vector256<byte>[4];
        for (int b = 0; b < nb; b++, w += 210)
        {
            sbyte* sc = (sbyte*)(w + 192);
            var scv = Vector128.Load(sc);
            var sclo = Sse41.ConvertToVector128Int16(scv);
            var schi = Sse41.ConvertToVector128Int16(Sse2.ShiftRightLogical128BitLane(scv, 8));
            int Offs(byte* xr)
            {
                short* bs = ActivationQuantizer.Q256BlockSums(xr, nb) + b * 16;
                return 32 * HSum(Sse2.Add(Sse2.MultiplyAddAdjacent(sclo, Vector128.Load(bs)), Sse2.MultiplyAddAdjacent(schi, Vector128.Load(bs + 8))));
            }
            Vector256<int> s0 = Vector256.CreateScalar(-Offs(xa)), s1 = Vector256.CreateScalar(-Offs(xb));
            Vector256<int> s2 = Vector256.CreateScalar(-Offs(xc)), s3 = Vector256.CreateScalar(-Offs(xe));
            byte* ql = w, qh = w + 128;
            long o = (long)b * 256;
            for (int n = 0; n < 2; n++, ql += 64, qh += 32, sc += 8)
            {
                var l0 = Vector256.Load(ql);
                var l1 = Vector256.Load(ql + 32);
                var h = Vector256.Load(qh);
                q4[0] = (l0 & low) | Avx2.ShiftLeftLogical((h & three).AsUInt16(), 4).AsByte();
                q4[1] = (l1 & low) | Avx2.ShiftLeftLogical((Avx2.ShiftRightLogical(h.AsUInt16(), 2).AsByte() & three).AsUInt16(), 4).AsByte();
                q4[2] = (Avx2.ShiftRightLogical(l0.AsUInt16(), 4).AsByte() & low) | Avx2.ShiftLeftLogical((Avx2.ShiftRightLogical(h.AsUInt16(), 4).AsByte() & three).AsUInt16(), 4).AsByte();
                q4[3] = (Avx2.ShiftRightLogical(l1.AsUInt16(), 4).AsByte() & low) | Avx2.ShiftLeftLogical((Avx2.ShiftRightLogical(h.AsUInt16(), 6).AsByte() & three).AsUInt16(), 4).AsByte();
                for (int t = 0; t < 4; t++)
                {
                    var qv = q4[t];
                    var scale = Scale2(sc, 2 * t);
                    long off = o + n * 128 + t * 32;
                    s0 = Avx2.Add(s0, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(qv, Vector256.Load((sbyte*)xa + off)), scale));
                    s1 = Avx2.Add(s1, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(qv, Vector256.Load((sbyte*)xb + off)), scale));
                    s2 = Avx2.Add(s2, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(qv, Vector256.Load((sbyte*)xc + off)), scale));
                    s3 = Avx2.Add(s3, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(qv, Vector256.Load((sbyte*)xe + off)), scale));
                }
            }
            float d = H(w + 208);
            acc0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(s0), Vector256.Create(d * ActivationQuantizer.Q256Scales(xa, nb)[b]), acc0);
            acc1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(s1), Vector256.Create(d * ActivationQuantizer.Q256Scales(xb, nb)[b]), acc1);
            acc2 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(s2), Vector256.Create(d * ActivationQuantizer.Q256Scales(xc, nb)[b]), acc2);
            acc3 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(s3), Vector256.Create(d * ActivationQuantizer.Q256Scales(xe, nb)[b]), acc3);
        }
        out4[0] = HSum(acc0); out4[1] = HSum(acc1); out4[2] = HSum(acc2); out4[3] = HSum(acc3);
    }

    static float DotQ5K(byte* w, byte* x, int nb)
    {
        short* sc16 = stackalloc short[8];
        sbyte* xq = ActivationQuantizer.Q256Quants(x);
        float* xd = ActivationQuantizer.Q256Scales(x, nb);
        short* bs = ActivationQuantizer.Q256BlockSums(x, nb);
        var acc = Vector256<float>.Zero;
        float accMin = 0;
        var low = Vector256.Create((byte)0x0F);
        var sixteen = Vector256.Create((byte)0x10);
        for (int b = 0; b < nb; b++, w += 176)
        {
            var sm = UnpackScalesMins(w + 4);
            float dx = xd[b];
            accMin += H(w + 2) * dx * MinsDot(sm, bs + b * 16);
            Sse41.ConvertToVector128Int16(sm).Store(sc16);
            var sumi = Vector256<int>.Zero;
            var qh = Vector256.Load(w + 16);
            byte* q = w + 48;
            sbyte* xb = xq + b * 256;
            for (int j = 0; j < 4; j++, q += 32, xb += 64)
            {
                var qv = Vector256.Load(q);
                var m1 = Vector256.Create((byte)(1 << (2 * j)));
                var m2 = Vector256.Create((byte)(2 << (2 * j)));
                var lo = (qv & low) | (Avx2.CompareEqual(qh & m1, m1) & sixteen);
                var hi = (Avx2.ShiftRightLogical(qv.AsUInt16(), 4).AsByte() & low) | (Avx2.CompareEqual(qh & m2, m2) & sixteen);
                var plo = Avx2.MultiplyAddAdjacent(lo, Vector256.Load(xb));
                var phi = Avx2.MultiplyAddAdjacent(hi, Vector256.Load(xb + 32));
                sumi = Avx2.Add(sumi, Avx2.MultiplyAddAdjacent(plo, Avx2.BroadcastScalarToVector256(sc16 + 2 * j)));
                sumi = Avx2.Add(sumi, Avx2.MultiplyAddAdjacent(phi, Avx2.BroadcastScalarToVector256(sc16 + 2 * j + 1)));
            }
            acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(sumi), Vector256.Create(H(w) * dx), acc);
        }
        return HSum(acc) - accMin;
    }

    static float DotQ6K(byte* w, byte* x, int nb)
    {
        sbyte* xq = ActivationQuantizer.Q256Quants(x);
        float* xd = ActivationQuantizer.Q256Scales(x, nb);
        short* bs = ActivationQuantizer.Q256BlockSums(x, nb);
        var acc = Vector256<float>.Zero;
        var low = Vector256.Create((byte)0x0F);
        var three = Vector256.Create((byte)0x03);
        for (int b = 0; b < nb; b++, w += 210)
        {
            sbyte* sc = (sbyte*)(w + 192);
            // −32 offset: Σ_g sc_g · bsum_g
            var scv = Vector128.Load(sc);
            var sclo = Sse41.ConvertToVector128Int16(scv);
            var schi = Sse41.ConvertToVector128Int16(Sse2.ShiftRightLogical128BitLane(scv, 8));
            int offs = HSum(Sse2.Add(Sse2.MultiplyAddAdjacent(sclo, Vector128.Load(bs + b * 16)),
                                     Sse2.MultiplyAddAdjacent(schi, Vector128.Load(bs + b * 16 + 8))));
            var sumi = Vector256<int>.Zero;
            byte* ql = w, qh = w + 128;
            sbyte* xb = xq + b * 256;
            for (int n = 0; n < 2; n++, ql += 64, qh += 32, xb += 128, sc += 8)
            {
                var l0 = Vector256.Load(ql);
                var l1 = Vector256.Load(ql + 32);
                var h = Vector256.Load(qh);
                var q1 = (l0 & low) | Avx2.ShiftLeftLogical((h & three).AsUInt16(), 4).AsByte();
                var q2 = (l1 & low) | Avx2.ShiftLeftLogical((Avx2.ShiftRightLogical(h.AsUInt16(), 2).AsByte() & three).AsUInt16(), 4).AsByte();
                var q3 = (Avx2.ShiftRightLogical(l0.AsUInt16(), 4).AsByte() & low) | Avx2.ShiftLeftLogical((Avx2.ShiftRightLogical(h.AsUInt16(), 4).AsByte() & three).AsUInt16(), 4).AsByte();
                var q4 = (Avx2.ShiftRightLogical(l1.AsUInt16(), 4).AsByte() & low) | Avx2.ShiftLeftLogical((Avx2.ShiftRightLogical(h.AsUInt16(), 6).AsByte() & three).AsUInt16(), 4).AsByte();
                sumi = Avx2.Add(sumi, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(q1, Vector256.Load(xb)), Scale2(sc, 0)));
                sumi = Avx2.Add(sumi, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(q2, Vector256.Load(xb + 32)), Scale2(sc, 2)));
                sumi = Avx2.Add(sumi, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(q3, Vector256.Load(xb + 64)), Scale2(sc, 4)));
                sumi = Avx2.Add(sumi, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(q4, Vector256.Load(xb + 96)), Scale2(sc, 6)));
            }
            sumi = Avx2.Subtract(sumi, Vector256.CreateScalar(offs * 32));
            acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(sumi), Vector256.Create(H(w + 208) * xd[b]), acc);
        }
        return HSum(acc);
    }

    /// <summary>[sc[g] ×8, sc[g+1] ×8] as int16.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<short> Scale2(sbyte* sc, int g) => Vector256.Create(Vector128.Create((short)sc[g]), Vector128.Create((short)sc[g + 1]));
}
