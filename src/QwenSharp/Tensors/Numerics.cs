using System.Runtime.CompilerServices;

namespace QwenSharp.Tensors;

/// <summary>Scalar conversions between f32 and the 16-bit float formats, without <c>(float)Half</c> calls.</summary>
public static class Numerics
{
    /// <summary>bfloat16 bits to f32: the bf16 value is the top half of an f32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float BFloat16ToFloat(ushort b) => BitConverter.Int32BitsToSingle(b << 16);

    /// <summary>f32 to bfloat16 bits, rounding to nearest even (NaN stays NaN), as PyTorch does.</summary>
    public static ushort FloatToBFloat16(float f)
    {
        uint u = BitConverter.SingleToUInt32Bits(f);
        if ((u & 0x7fffffff) > 0x7f800000) return (ushort)((u >> 16) | 0x40);
        uint rounding = 0x7fff + ((u >> 16) & 1);
        return (ushort)((u + rounding) >> 16);
    }

    /// <summary>IEEE fp16 bits to f32 (exact, including subnormals, inf and NaN).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float HalfToFloat(ushort h)
    {
        // Shift exponent+mantissa into place and rescale by 2^112; handles normals and subnormals.
        uint sign = (uint)(h & 0x8000) << 16;
        uint em = (uint)(h & 0x7fff);
        float f = BitConverter.UInt32BitsToSingle(em << 13) * 5.192296858534828e+33f; // 2^112
        uint bits = BitConverter.SingleToUInt32Bits(f);
        if (em >= 0x7c00) bits = 0x7f800000 | (em & 0x3ff) << 13; // inf / NaN
        return BitConverter.UInt32BitsToSingle(bits | sign);
    }

    /// <summary>f32 to IEEE fp16 bits, round to nearest even (as numpy/ggml do).</summary>
    public static ushort FloatToHalf(float f) => BitConverter.HalfToUInt16Bits((Half)f);
}
