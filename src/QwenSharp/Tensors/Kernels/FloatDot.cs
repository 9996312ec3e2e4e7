using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace QwenSharp.Tensors.Kernels;

/// <summary>
/// Dot products of f32 activations with rows stored as f32, bf16 or f16, four rows at a time so each
/// activation load serves four rows. Vector512 where the CPU has it, Vector256 otherwise, Vector128 on CPUs
/// without 256-bit vectors (ARM64: <see cref="Portable"/>), and a scalar loop for the tail (and as the reference
/// twin in <see cref="Reference"/>).
/// </summary>
public static unsafe class FloatDot
{
    // ---- loading 16 weights as f32 -------------------------------------------------------------------

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> LoadBF16x16(ushort* p) =>
        Avx512F.ShiftLeftLogical(Avx512F.ConvertToVector512UInt32(Vector256.Load(p)), 16).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> LoadF16x16(ushort* p)
    {
        // fp16 -> f32 bit trick: ((h & 0x7fff) << 13) as float * 2^112, then OR the sign. Exact for normals,
        // subnormals and zero (weights never hold inf/NaN).
        var h = Avx512F.ConvertToVector512UInt32(Vector256.Load(p));
        var em = Avx512F.ShiftLeftLogical(h & Vector512.Create(0x7fffu), 13);
        var f = em.AsSingle() * Vector512.Create(5.192296858534828e+33f);
        var sign = Avx512F.ShiftLeftLogical(h & Vector512.Create(0x8000u), 16);
        return (f.AsUInt32() | sign).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> LoadBF16x8(ushort* p) =>
        Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32(Vector128.Load(p)).AsUInt32(), 16).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> LoadF16x8(ushort* p)
    {
        var h = Avx2.ConvertToVector256Int32(Vector128.Load(p)).AsUInt32();
        var em = Avx2.ShiftLeftLogical(h & Vector256.Create(0x7fffu), 13);
        var f = em.AsSingle() * Vector256.Create(5.192296858534828e+33f);
        var sign = Avx2.ShiftLeftLogical(h & Vector256.Create(0x8000u), 16);
        return (f.AsUInt32() | sign).AsSingle();
    }

    // ---- f32 ------------------------------------------------------------------------------------------

    /// <summary>Dots of 4 f32 rows (row stride <paramref name="ld"/> floats) with x, length k.</summary>
    public static void Dot4(float* w, long ld, float* x, int k, float* out4)
    {
        if (!Vector256.IsHardwareAccelerated && Vector128.IsHardwareAccelerated) { Portable.Dot4(w, ld, x, k, out4); return; }
        int i = 0;
        float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        if (Vector512.IsHardwareAccelerated && k >= 16)
        {
            Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
            for (; i + 16 <= k; i += 16)
            {
                var xv = Vector512.Load(x + i);
                a0 = Vector512.FusedMultiplyAdd(Vector512.Load(w + i), xv, a0);
                a1 = Vector512.FusedMultiplyAdd(Vector512.Load(w + ld + i), xv, a1);
                a2 = Vector512.FusedMultiplyAdd(Vector512.Load(w + 2 * ld + i), xv, a2);
                a3 = Vector512.FusedMultiplyAdd(Vector512.Load(w + 3 * ld + i), xv, a3);
            }
            s0 = Vector512.Sum(a0); s1 = Vector512.Sum(a1); s2 = Vector512.Sum(a2); s3 = Vector512.Sum(a3);
        }
        else if (Vector256.IsHardwareAccelerated && k >= 8)
        {
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
            for (; i + 8 <= k; i += 8)
            {
                var xv = Vector256.Load(x + i);
                a0 = Vector256.FusedMultiplyAdd(Vector256.Load(w + i), xv, a0);
                a1 = Vector256.FusedMultiplyAdd(Vector256.Load(w + ld + i), xv, a1);
                a2 = Vector256.FusedMultiplyAdd(Vector256.Load(w + 2 * ld + i), xv, a2);
                a3 = Vector256.FusedMultiplyAdd(Vector256.Load(w + 3 * ld + i), xv, a3);
            }
            s0 = Vector256.Sum(a0); s1 = Vector256.Sum(a1); s2 = Vector256.Sum(a2); s3 = Vector256.Sum(a3);
        }
        Finish4(w, ld, x, i, k, s0, s1, s2, s3, out4);
    }

    public static float Dot(float* w, float* x, int k)
    {
        if (!Vector256.IsHardwareAccelerated && Vector128.IsHardwareAccelerated) return Portable.Dot(w, x, k);
        int i = 0;
        float s = 0;
        if (Vector512.IsHardwareAccelerated && k >= 16)
        {
            Vector512<float> a0 = default, a1 = default;
            for (; i + 32 <= k; i += 32)
            {
                a0 = Vector512.FusedMultiplyAdd(Vector512.Load(w + i), Vector512.Load(x + i), a0);
                a1 = Vector512.FusedMultiplyAdd(Vector512.Load(w + i + 16), Vector512.Load(x + i + 16), a1);
            }
            for (; i + 16 <= k; i += 16) a0 = Vector512.FusedMultiplyAdd(Vector512.Load(w + i), Vector512.Load(x + i), a0);
            s = Vector512.Sum(a0 + a1);
        }
        else if (Vector256.IsHardwareAccelerated && k >= 8)
        {
            Vector256<float> a0 = default;
            for (; i + 8 <= k; i += 8) a0 = Vector256.FusedMultiplyAdd(Vector256.Load(w + i), Vector256.Load(x + i), a0);
            s = Vector256.Sum(a0);
        }
        for (; i < k; i++) s += w[i] * x[i];
        return s;
    }

    // ---- bf16 / f16 -----------------------------------------------------------------------------------

    /// <summary>Dots of 4 16-bit rows (row stride <paramref name="ld"/> elements) with x.</summary>
    public static void Dot4Half(ushort* w, long ld, float* x, int k, float* out4, bool bf16)
    {
        if (!Avx2.IsSupported && Vector128.IsHardwareAccelerated) { Portable.Dot4Half(w, ld, x, k, out4, bf16); return; }
        int i = 0;
        float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        if (Avx512F.IsSupported && k >= 16)
        {
            Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
            if (bf16)
            {
                for (; i + 16 <= k; i += 16)
                {
                    var xv = Vector512.Load(x + i);
                    a0 = Vector512.FusedMultiplyAdd(LoadBF16x16(w + i), xv, a0);
                    a1 = Vector512.FusedMultiplyAdd(LoadBF16x16(w + ld + i), xv, a1);
                    a2 = Vector512.FusedMultiplyAdd(LoadBF16x16(w + 2 * ld + i), xv, a2);
                    a3 = Vector512.FusedMultiplyAdd(LoadBF16x16(w + 3 * ld + i), xv, a3);
                }
            }
            else
            {
                for (; i + 16 <= k; i += 16)
                {
                    var xv = Vector512.Load(x + i);
                    a0 = Vector512.FusedMultiplyAdd(LoadF16x16(w + i), xv, a0);
                    a1 = Vector512.FusedMultiplyAdd(LoadF16x16(w + ld + i), xv, a1);
                    a2 = Vector512.FusedMultiplyAdd(LoadF16x16(w + 2 * ld + i), xv, a2);
                    a3 = Vector512.FusedMultiplyAdd(LoadF16x16(w + 3 * ld + i), xv, a3);
                }
            }
            s0 = Vector512.Sum(a0); s1 = Vector512.Sum(a1); s2 = Vector512.Sum(a2); s3 = Vector512.Sum(a3);
        }
        else if (Avx2.IsSupported && k >= 8)
        {
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
            for (; i + 8 <= k; i += 8)
            {
                var xv = Vector256.Load(x + i);
                if (bf16)
                {
                    a0 = Vector256.FusedMultiplyAdd(LoadBF16x8(w + i), xv, a0);
                    a1 = Vector256.FusedMultiplyAdd(LoadBF16x8(w + ld + i), xv, a1);
                    a2 = Vector256.FusedMultiplyAdd(LoadBF16x8(w + 2 * ld + i), xv, a2);
                    a3 = Vector256.FusedMultiplyAdd(LoadBF16x8(w + 3 * ld + i), xv, a3);
                }
                else
                {
                    a0 = Vector256.FusedMultiplyAdd(LoadF16x8(w + i), xv, a0);
                    a1 = Vector256.FusedMultiplyAdd(LoadF16x8(w + ld + i), xv, a1);
                    a2 = Vector256.FusedMultiplyAdd(LoadF16x8(w + 2 * ld + i), xv, a2);
                    a3 = Vector256.FusedMultiplyAdd(LoadF16x8(w + 3 * ld + i), xv, a3);
                }
            }
            s0 = Vector256.Sum(a0); s1 = Vector256.Sum(a1); s2 = Vector256.Sum(a2); s3 = Vector256.Sum(a3);
        }
        Finish4Half(w, ld, x, i, k, bf16, s0, s1, s2, s3, out4);
    }

    public static float DotHalf(ushort* w, float* x, int k, bool bf16)
    {
        if (!Avx2.IsSupported && Vector128.IsHardwareAccelerated) return Portable.DotHalf(w, x, k, bf16);
        int i = 0;
        float s = 0;
        if (Avx512F.IsSupported && k >= 16)
        {
            Vector512<float> a0 = default;
            if (bf16) for (; i + 16 <= k; i += 16) a0 = Vector512.FusedMultiplyAdd(LoadBF16x16(w + i), Vector512.Load(x + i), a0);
            else for (; i + 16 <= k; i += 16) a0 = Vector512.FusedMultiplyAdd(LoadF16x16(w + i), Vector512.Load(x + i), a0);
            s = Vector512.Sum(a0);
        }
        else if (Avx2.IsSupported && k >= 8)
        {
            Vector256<float> a0 = default;
            for (; i + 8 <= k; i += 8)
                a0 = Vector256.FusedMultiplyAdd(bf16 ? LoadBF16x8(w + i) : LoadF16x8(w + i), Vector256.Load(x + i), a0);
            s = Vector256.Sum(a0);
        }
        for (; i < k; i++) s += ToFloat(w[i], bf16) * x[i];
        return s;
    }

    /// <summary>Converts a row of 16-bit floats to f32.</summary>
    public static void ConvertRow(ushort* w, float* dst, int k, bool bf16)
    {
        if (!Avx2.IsSupported && Vector128.IsHardwareAccelerated) { Portable.ConvertRow(w, dst, k, bf16); return; }
        int i = 0;
        if (Avx512F.IsSupported)
        {
            if (bf16) for (; i + 16 <= k; i += 16) LoadBF16x16(w + i).Store(dst + i);
            else for (; i + 16 <= k; i += 16) LoadF16x16(w + i).Store(dst + i);
        }
        else if (Avx2.IsSupported)
        {
            if (bf16) for (; i + 8 <= k; i += 8) LoadBF16x8(w + i).Store(dst + i);
            else for (; i + 8 <= k; i += 8) LoadF16x8(w + i).Store(dst + i);
        }
        for (; i < k; i++) dst[i] = ToFloat(w[i], bf16);
    }

    /// <summary>Adds columns [i, k) of 4 f32 rows to the sums (the scalar tail of the vector loops) and stores them.</summary>
    static void Finish4(float* w, long ld, float* x, int i, int k, float s0, float s1, float s2, float s3, float* out4)
    {
        for (; i < k; i++)
        {
            float xv = x[i];
            s0 += w[i] * xv; s1 += w[ld + i] * xv; s2 += w[2 * ld + i] * xv; s3 += w[3 * ld + i] * xv;
        }
        out4[0] = s0; out4[1] = s1; out4[2] = s2; out4[3] = s3;
    }

    /// <summary>The same for 4 16-bit rows.</summary>
    static void Finish4Half(ushort* w, long ld, float* x, int i, int k, bool bf16, float s0, float s1, float s2, float s3, float* out4)
    {
        for (; i < k; i++)
        {
            float xv = x[i];
            s0 += ToFloat(w[i], bf16) * xv; s1 += ToFloat(w[ld + i], bf16) * xv;
            s2 += ToFloat(w[2 * ld + i], bf16) * xv; s3 += ToFloat(w[3 * ld + i], bf16) * xv;
        }
        out4[0] = s0; out4[1] = s1; out4[2] = s2; out4[3] = s3;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static float ToFloat(ushort v, bool bf16) => bf16 ? Numerics.BFloat16ToFloat(v) : Numerics.HalfToFloat(v);

    /// <summary>
    /// The same products with the cross-platform <see cref="Vector128"/> API only: what CPUs without AVX2 (ARM64 NEON) run.
    /// The tests run it on x86-64 too.
    /// </summary>
    internal static class Portable
    {
        /// <summary>8 16-bit floats at p as two f32 vectors (fp16: the bit trick of <see cref="LoadF16x8"/>; bf16: a shift).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static (Vector128<float> Lo, Vector128<float> Hi) Load8(ushort* p, bool bf16)
        {
            var v = Vector128.Load(p);
            var lo = Vector128.WidenLower(v);
            var hi = Vector128.WidenUpper(v);
            return bf16 ? ((lo << 16).AsSingle(), (hi << 16).AsSingle()) : (FromHalf(lo), FromHalf(hi));
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static Vector128<float> FromHalf(Vector128<uint> h)
        {
            var em = (h & Vector128.Create(0x7fffu)) << 13;
            var f = em.AsSingle() * Vector128.Create(5.192296858534828e+33f); // 2^112
            return (f.AsUInt32() | ((h & Vector128.Create(0x8000u)) << 16)).AsSingle();
        }

        public static void Dot4(float* w, long ld, float* x, int k, float* out4)
        {
            int i = 0;
            Vector128<float> a0 = default, a1 = default, a2 = default, a3 = default;
            for (; i + 4 <= k; i += 4)
            {
                var xv = Vector128.Load(x + i);
                a0 = Vector128.FusedMultiplyAdd(Vector128.Load(w + i), xv, a0);
                a1 = Vector128.FusedMultiplyAdd(Vector128.Load(w + ld + i), xv, a1);
                a2 = Vector128.FusedMultiplyAdd(Vector128.Load(w + 2 * ld + i), xv, a2);
                a3 = Vector128.FusedMultiplyAdd(Vector128.Load(w + 3 * ld + i), xv, a3);
            }
            float s0 = Vector128.Sum(a0), s1 = Vector128.Sum(a1), s2 = Vector128.Sum(a2), s3 = Vector128.Sum(a3);
            Finish4(w, ld, x, i, k, s0, s1, s2, s3, out4);
        }

        public static float Dot(float* w, float* x, int k)
        {
            int i = 0;
            Vector128<float> a0 = default, a1 = default;
            for (; i + 8 <= k; i += 8)
            {
                a0 = Vector128.FusedMultiplyAdd(Vector128.Load(w + i), Vector128.Load(x + i), a0);
                a1 = Vector128.FusedMultiplyAdd(Vector128.Load(w + i + 4), Vector128.Load(x + i + 4), a1);
            }
            for (; i + 4 <= k; i += 4) a0 = Vector128.FusedMultiplyAdd(Vector128.Load(w + i), Vector128.Load(x + i), a0);
            float s = Vector128.Sum(a0 + a1);
            for (; i < k; i++) s += w[i] * x[i];
            return s;
        }

        public static void Dot4Half(ushort* w, long ld, float* x, int k, float* out4, bool bf16)
        {
            int i = 0;
            Vector128<float> a0 = default, a1 = default, a2 = default, a3 = default;
            for (; i + 8 <= k; i += 8)
            {
                var xl = Vector128.Load(x + i);
                var xh = Vector128.Load(x + i + 4);
                var (l0, h0) = Load8(w + i, bf16);
                var (l1, h1) = Load8(w + ld + i, bf16);
                var (l2, h2) = Load8(w + 2 * ld + i, bf16);
                var (l3, h3) = Load8(w + 3 * ld + i, bf16);
                a0 = Vector128.FusedMultiplyAdd(h0, xh, Vector128.FusedMultiplyAdd(l0, xl, a0));
                a1 = Vector128.FusedMultiplyAdd(h1, xh, Vector128.FusedMultiplyAdd(l1, xl, a1));
                a2 = Vector128.FusedMultiplyAdd(h2, xh, Vector128.FusedMultiplyAdd(l2, xl, a2));
                a3 = Vector128.FusedMultiplyAdd(h3, xh, Vector128.FusedMultiplyAdd(l3, xl, a3));
            }
            float s0 = Vector128.Sum(a0), s1 = Vector128.Sum(a1), s2 = Vector128.Sum(a2), s3 = Vector128.Sum(a3);
            Finish4Half(w, ld, x, i, k, bf16, s0, s1, s2, s3, out4);
        }

        public static float DotHalf(ushort* w, float* x, int k, bool bf16)
        {
            int i = 0;
            Vector128<float> a0 = default, a1 = default;
            for (; i + 8 <= k; i += 8)
            {
                var (lo, hi) = Load8(w + i, bf16);
                a0 = Vector128.FusedMultiplyAdd(lo, Vector128.Load(x + i), a0);
                a1 = Vector128.FusedMultiplyAdd(hi, Vector128.Load(x + i + 4), a1);
            }
            float s = Vector128.Sum(a0 + a1);
            for (; i < k; i++) s += ToFloat(w[i], bf16) * x[i];
            return s;
        }

        public static void ConvertRow(ushort* w, float* dst, int k, bool bf16)
        {
            int i = 0;
            for (; i + 8 <= k; i += 8)
            {
                var (lo, hi) = Load8(w + i, bf16);
                lo.Store(dst + i);
                hi.Store(dst + i + 4);
            }
            for (; i < k; i++) dst[i] = ToFloat(w[i], bf16);
        }
    }

    /// <summary>Plain scalar loops: the reference twins the tests compare the SIMD paths against.</summary>
    public static class Reference
    {
        public static double Dot(float* w, float* x, int k)
        {
            double s = 0;
            for (int i = 0; i < k; i++) s += (double)w[i] * x[i];
            return s;
        }

        public static double DotHalf(ushort* w, float* x, int k, bool bf16)
        {
            double s = 0;
            for (int i = 0; i < k; i++) s += (double)(bf16 ? Numerics.BFloat16ToFloat(w[i]) : (float)BitConverter.UInt16BitsToHalf(w[i])) * x[i];
            return s;
        }
    }
}
