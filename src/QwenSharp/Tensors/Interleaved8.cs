using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace QwenSharp.Tensors;

/// <summary>
/// Shared pieces of the 8-row-interleaved weight layouts (<see cref="Block32Matrix"/>, <see cref="InterleavedKQuantMatrix"/>).
/// <para>Rows are repacked in groups of 8. Inside a group, the quants of one <b>step</b> (4 consecutive columns)
/// of all 8 rows lie in one 32-byte vector: byte 4·r + t holds row r, column 4·step + t (nibble types pack two
/// steps per byte). The kernels broadcast 4 activation bytes to all 8 lanes (<c>vpbroadcastd</c>), so one
/// <c>vpmaddubsw</c> + <c>vpmaddwd</c> leaves each row's partial dot in its own int32 lane: no horizontal
/// reductions, and a block's 8 row scales are one vector. The same weight vector serves up to 4 inputs
/// (the prefill GEMM tile is 8 rows × 4 inputs, activations reused from L1).</para>
/// <para>Every kernel is generic over the number of inputs it handles (<see cref="IInputCount"/>), so a batch
/// and one input at a time run the same per-lane operations: results are bit-identical whatever the batch.</para>
/// </summary>
internal static unsafe class Interleaved8
{
    public const int Rows = 8;

    /// <summary>8 fp16 values at p to f32 (finite values, subnormals included) without a call per value.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> HalfToFloat8(byte* p)
    {
        var h = Avx2.ConvertToVector256Int32((ushort*)p).AsUInt32();
        var em = Avx2.ShiftLeftLogical(h & Vector256.Create(0x7fffu), 13);
        var f = em.AsSingle() * Vector256.Create(5.192296858534828e+33f); // 2^112
        var sign = Avx2.ShiftLeftLogical(h & Vector256.Create(0x8000u), 16);
        return (f.AsUInt32() | sign).AsSingle();
    }

    /// <summary>4 activation bytes at p in all 8 int32 lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<sbyte> Bcast4(sbyte* p) => Avx2.BroadcastScalarToVector256((int*)p).AsSByte();

    /// <summary>One int16 value per row, duplicated into both halves of the row's int32 lane, from 8 unsigned bytes at p.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<short> ExpandU8(byte* p) =>
        Avx2.Shuffle(Vector256.Create(*(ulong*)p).AsByte(), DupPattern).AsInt16();

    static Vector256<byte> DupPattern
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Vector256.Create(
        (byte)0, 0x80, 0, 0x80, 1, 0x80, 1, 0x80, 2, 0x80, 2, 0x80, 3, 0x80, 3, 0x80,
        4, 0x80, 4, 0x80, 5, 0x80, 5, 0x80, 6, 0x80, 6, 0x80, 7, 0x80, 7, 0x80);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> MaddSum(Vector256<short> a) => Avx2.MultiplyAddAdjacent(a, Vector256<short>.One);

    /// <summary>One unsigned-weight step for N inputs: a_i += vpmaddubsw(w, 4 bytes of input i broadcast).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Madd<N>(Vector256<byte> w, sbyte* x0, sbyte* x1, sbyte* x2, sbyte* x3,
        ref Vector256<short> a0, ref Vector256<short> a1, ref Vector256<short> a2, ref Vector256<short> a3) where N : struct, IInputCount
    {
        a0 = Avx2.Add(a0, Avx2.MultiplyAddAdjacent(w, Bcast4(x0)));
        if (N.Value > 1) a1 = Avx2.Add(a1, Avx2.MultiplyAddAdjacent(w, Bcast4(x1)));
        if (N.Value > 2) a2 = Avx2.Add(a2, Avx2.MultiplyAddAdjacent(w, Bcast4(x2)));
        if (N.Value > 3) a3 = Avx2.Add(a3, Avx2.MultiplyAddAdjacent(w, Bcast4(x3)));
    }

    /// <summary>t_i += vpmaddwd(a_i, s) for N inputs (the int16 sums of a sub-block times the row scales), then clears a_i.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Scale<N>(Vector256<short> s,
        ref Vector256<short> a0, ref Vector256<short> a1, ref Vector256<short> a2, ref Vector256<short> a3,
        ref Vector256<int> t0, ref Vector256<int> t1, ref Vector256<int> t2, ref Vector256<int> t3) where N : struct, IInputCount
    {
        t0 = Avx2.Add(t0, Avx2.MultiplyAddAdjacent(a0, s)); a0 = default;
        if (N.Value > 1) { t1 = Avx2.Add(t1, Avx2.MultiplyAddAdjacent(a1, s)); a1 = default; }
        if (N.Value > 2) { t2 = Avx2.Add(t2, Avx2.MultiplyAddAdjacent(a2, s)); a2 = default; }
        if (N.Value > 3) { t3 = Avx2.Add(t3, Avx2.MultiplyAddAdjacent(a3, s)); a3 = default; }
    }

    /// <summary>The low (<paramref name="high"/> false) or high nibbles of 32 bytes at p.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Nibbles(byte* p, bool high)
    {
        var v = Vector256.Load(p);
        if (high) v = Avx2.ShiftRightLogical(v.AsUInt16(), 4).AsByte();
        return v & Vector256.Create((byte)0x0F);
    }

    /// <summary>4 steps of 4-bit weights (vectors 32 bytes apart, activations 4 bytes apart), summed into a_i.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Nibbles4<N>(byte* w, bool high, sbyte* x0, sbyte* x1, sbyte* x2, sbyte* x3,
        ref Vector256<short> a0, ref Vector256<short> a1, ref Vector256<short> a2, ref Vector256<short> a3) where N : struct, IInputCount
    {
        Madd<N>(Nibbles(w, high), x0, x1, x2, x3, ref a0, ref a1, ref a2, ref a3);
        Madd<N>(Nibbles(w + 32, high), x0 + 4, x1 + 4, x2 + 4, x3 + 4, ref a0, ref a1, ref a2, ref a3);
        Madd<N>(Nibbles(w + 64, high), x0 + 8, x1 + 8, x2 + 8, x3 + 8, ref a0, ref a1, ref a2, ref a3);
        Madd<N>(Nibbles(w + 96, high), x0 + 12, x1 + 12, x2 + 12, x3 + 12, ref a0, ref a1, ref a2, ref a3);
    }

    /// <summary>
    /// 4 steps of 5-bit weights: nibbles (32 bytes apart) with the fifth bit from bit planes p0..p0+3 of h (bit p of
    /// each byte moved to bit 4 by a shift), summed into a_i.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Fives4<N>(byte* w, bool high, Vector256<ushort> h, bool planes4to7, sbyte* x0, sbyte* x1, sbyte* x2, sbyte* x3,
        ref Vector256<short> a0, ref Vector256<short> a1, ref Vector256<short> a2, ref Vector256<short> a3) where N : struct, IInputCount
    {
        var bit4 = Vector256.Create((byte)0x10);
        var hs = planes4to7 ? h : Avx2.ShiftLeftLogical(h, 4);
        Madd<N>(Nibbles(w, high) | (hs.AsByte() & bit4), x0, x1, x2, x3, ref a0, ref a1, ref a2, ref a3);
        hs = Avx2.ShiftRightLogical(hs, 1);
        Madd<N>(Nibbles(w + 32, high) | (hs.AsByte() & bit4), x0 + 4, x1 + 4, x2 + 4, x3 + 4, ref a0, ref a1, ref a2, ref a3);
        hs = Avx2.ShiftRightLogical(hs, 1);
        Madd<N>(Nibbles(w + 64, high) | (hs.AsByte() & bit4), x0 + 8, x1 + 8, x2 + 8, x3 + 8, ref a0, ref a1, ref a2, ref a3);
        hs = Avx2.ShiftRightLogical(hs, 1);
        Madd<N>(Nibbles(w + 96, high) | (hs.AsByte() & bit4), x0 + 12, x1 + 12, x2 + 12, x3 + 12, ref a0, ref a1, ref a2, ref a3);
    }

    /// <summary>Signed int8 weights (Q8_0), one step: t_i += Σ pairs of |w| · sign(x_i, w).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Signed<N>(sbyte* p, sbyte* x0, sbyte* x1, sbyte* x2, sbyte* x3,
        ref Vector256<int> t0, ref Vector256<int> t1, ref Vector256<int> t2, ref Vector256<int> t3) where N : struct, IInputCount
    {
        var w = Vector256.Load(p);
        var aw = Avx2.Abs(w);
        t0 = Avx2.Add(t0, MaddSum(Avx2.MultiplyAddAdjacent(aw, Avx2.Sign(Bcast4(x0), w))));
        if (N.Value > 1) t1 = Avx2.Add(t1, MaddSum(Avx2.MultiplyAddAdjacent(aw, Avx2.Sign(Bcast4(x1), w))));
        if (N.Value > 2) t2 = Avx2.Add(t2, MaddSum(Avx2.MultiplyAddAdjacent(aw, Avx2.Sign(Bcast4(x2), w))));
        if (N.Value > 3) t3 = Avx2.Add(t3, MaddSum(Avx2.MultiplyAddAdjacent(aw, Avx2.Sign(Bcast4(x3), w))));
    }

    /// <summary>How far ahead of the block being computed <see cref="Prefetch"/> asks for weights (bytes).</summary>
    public const int PrefetchDistance = 2048;

    /// <summary>
    /// Software prefetch of the <paramref name="bytes"/> weight bytes <see cref="PrefetchDistance"/> past p (one input:
    /// decode streams every weight once from memory; the hardware prefetcher restarts at every work item). Non-temporal
    /// (<c>prefetchnta</c>): a token's weights are not read again before they would be evicted anyway, so they should not
    /// push the KV cache and activations out of L2 (in-process A/B, decode steps alternated: 1–5 % faster per token on
    /// three of the four benchmark files, no change on the fourth).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Prefetch(byte* p, int bytes)
    {
        for (int o = 0; o < bytes; o += 64) Sse.PrefetchNonTemporal(p + PrefetchDistance + o);
    }

    /// <summary>Writes the valid lanes (rows) of one input's result.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Vector256<float> v, float* y, int valid)
    {
        if (valid == 8) v.Store(y);
        else Avx.MaskStore(y, Avx2.CompareGreaterThan(Vector256.Create(valid), Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7)).AsSingle(), v);
    }
}

/// <summary>The number of inputs a kernel instantiation handles (1..4), a JIT-time constant.</summary>
internal interface IInputCount { static abstract int Value { get; } }
internal struct Inputs1 : IInputCount { public static int Value => 1; }
internal struct Inputs2 : IInputCount { public static int Value => 2; }
internal struct Inputs3 : IInputCount { public static int Value => 3; }
internal struct Inputs4 : IInputCount { public static int Value => 4; }
